import ArgumentParser
import Emporium
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

struct CreateAdminCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create-admin",
        abstract: "Create an administrator account.",
        discussion: """
            The password is read from standard input (one line), or asked for without echo on a \
            terminal; it is never a flag, so it stays out of shell history and process lists.
            """
    )

    @Option(help: "The administrator's e-mail address.") var email: String
    @Option(help: "The administrator's name.") var name = "Administrator"
    @OptionGroup(title: "Database and logging") var options: DatabaseOptions
    @OptionGroup var hashing: BcryptCostOption

    func run() async throws {
        let configuration = try options.configuration(hashing)
        guard let password = Self.readPassword() else { throw fail("no password given on standard input") }
        let logger = makeLogger(configuration, sink: StandardErrorSink())
        do {
            let id = try await withDatabase(configuration, logger: logger) { database in
                _ = try await migrate(database, logger: logger)
                return try await AdminBootstrap.createAdmin(
                    email: email, name: name, password: password, configuration: configuration, database: database)
            }
            print("Created administrator \(email) (\(id)).")
        } catch {
            throw fail(describe(error))
        }
    }

    private static func readPassword() -> String? {
        if isatty(STDIN_FILENO) != 0, let entered = getpass("Password for the new administrator: ") {
            return String(cString: entered)
        }
        return readLine(strippingNewline: true)
    }
}
