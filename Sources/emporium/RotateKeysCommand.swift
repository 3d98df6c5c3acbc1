import ArgumentParser
import Emporium

struct RotateKeysCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rotate-keys",
        abstract: "Re-encrypt personal data with the first key of the encryption key file.",
        discussion: """
            Put the new key on the first line of the key file and keep the old ones below it, \
            run this command, and remove the old keys once it reports no stale rows.
            """
    )

    @OptionGroup(title: "Database and logging") var options: DatabaseOptions
    @OptionGroup var keys: EncryptionKeyOption

    func run() async throws {
        let configuration = try options.configuration(keys)
        do {
            try KeyFileCheck.encryptionKeys(configuration)
        } catch {
            throw fail(error.description)
        }
        let logger = makeLogger(configuration, sink: StandardErrorSink())
        do {
            let changed = try await withDatabase(configuration, logger: logger) { database in
                _ = try await migrate(database, logger: logger)
                return try await rotateEncryptionKeys(configuration, database: database)
            }
            print("Re-encrypted \(changed) row(s) with the current key.")
        } catch {
            throw fail(describe(error))
        }
    }
}
