public import Crypto
import EmporiumStorage
import Foundation

/// Encrypts personal data before it reaches the database: AES-256-GCM, one random nonce per
/// value, and the key's id in every ciphertext so that keys can rotate.
///
/// A sealed value reads `v1.<key id>.<base64 of nonce, ciphertext and tag>`. The caller names
/// what the value is (`addresses.line1:<row id>`), and that name is authenticated with it, so
/// a ciphertext copied into another row or column does not decrypt.
public final class FieldCipher: Sendable {
    public struct Key: Sendable {
        public let id: String
        let key: SymmetricKey

        public init(id: String, key: SymmetricKey) {
            self.id = id
            self.key = key
        }
    }

    /// Encrypts everything new.
    public let current: Key
    private let keys: [String: SymmetricKey]

    /// `keys[0]` is the current key; the others only decrypt what they encrypted before.
    public init(keys: [Key]) {
        precondition(!keys.isEmpty, "a cipher needs at least one key")
        current = keys[0]
        self.keys = Dictionary(keys.map { ($0.id, $0.key) }, uniquingKeysWith: { first, _ in first })
    }

    public func seal(_ plaintext: String, context: String) throws -> String {
        let box = try AES.GCM.seal(Data(plaintext.utf8), using: current.key, authenticating: Data(context.utf8))
        guard let combined = box.combined else { throw FieldCipherError.malformed }
        return "v1.\(current.id).\(combined.base64EncodedString())"
    }

    public func open(_ sealed: String, context: String) throws -> String {
        let parts = sealed.split(separator: ".", maxSplits: 2)
        guard parts.count == 3, parts[0] == "v1", let data = Data(base64Encoded: String(parts[2])) else {
            throw FieldCipherError.malformed
        }
        guard let key = keys[String(parts[1])] else { throw FieldCipherError.unknownKey(String(parts[1])) }
        do {
            let plaintext = try AES.GCM.open(AES.GCM.SealedBox(combined: data), using: key, authenticating: Data(context.utf8))
            return String(decoding: plaintext, as: UTF8.self)
        } catch {
            throw FieldCipherError.malformed
        }
    }

    /// Whether a sealed value was made with a key other than the current one.
    public func isStale(_ sealed: String) -> Bool {
        !sealed.hasPrefix("v1.\(current.id).")
    }
}

public enum FieldCipherError: Error, Sendable, Equatable, CustomStringConvertible {
    case malformed
    case unknownKey(String)

    public var description: String {
        switch self {
        case .malformed: "an encrypted value is damaged or belongs to another row"
        case .unknownKey(let id): "an encrypted value uses key '\(id)', which is not in the key file; restore that key"
        }
    }
}

/// Where the encryption keys come from: a key file named by configuration (one key per line,
/// `ID BASE64-32-BYTES`, the first line encrypts), or beside an SQLite database a file made
/// on first start (mode 0600). PostgreSQL deployments must name the file.
enum EncryptionKeySource {
    static func load(_ configuration: AppConfiguration) throws -> FieldCipher {
        if let path = configuration.encryptionKeyFile {
            return try read(path)
        }
        switch configuration.databaseURL {
        case .sqliteMemory:
            return FieldCipher(keys: [.init(id: "k1", key: SymmetricKey(size: .bits256))])
        case .sqliteFile(path: let databasePath):
            let path = databasePath + ".encryption-keys"
            if FileManager.default.fileExists(atPath: path) { return try read(path) }
            let key = SymmetricKey(size: .bits256)
            let line = "k1 " + key.withUnsafeBytes { Data($0).base64EncodedString() } + "\n"
            guard FileManager.default.createFile(
                atPath: path, contents: Data(line.utf8), attributes: [.posixPermissions: 0o600])
            else {
                throw ConfigurationError(description: "cannot write the encryption key file \(path); check the folder's permissions")
            }
            return FieldCipher(keys: [.init(id: "k1", key: key)])
        case .postgres(_):
            throw ConfigurationError(
                description: "--encryption-key-file (EMPORIUM_ENCRYPTION_KEY_FILE) is required with PostgreSQL: every node must share the keys (a line 'k1 ' followed by: openssl rand -base64 32)")
        }
    }

    static func read(_ path: String) throws -> FieldCipher {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ConfigurationError(description: "cannot read the encryption key file \(path)")
        }
        var keys: [FieldCipher.Key] = []
        for (number, line) in text.split(separator: "\n").enumerated() {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if fields.isEmpty || fields[0].hasPrefix("#") { continue }
            guard fields.count == 2, let bytes = Data(base64Encoded: String(fields[1])), bytes.count == 32,
                fields[0].allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" })
            else {
                throw ConfigurationError(description: "\(path) line \(number + 1): expected 'ID BASE64' with a 32-byte key")
            }
            keys.append(.init(id: String(fields[0]), key: SymmetricKey(data: bytes)))
        }
        guard !keys.isEmpty else { throw ConfigurationError(description: "\(path) holds no key") }
        return FieldCipher(keys: keys)
    }
}

extension FieldCipher {
    /// Re-seals with the current key every value of `column` sealed with an older one, for
    /// tables whose sealed column is bound to the row id by `context`; returns how many rows
    /// changed. `table` and `column` are names written in the code, never input.
    func rotate(table: String, column: String, context: (String) -> String, on db: any SQLExecutor) async throws -> Int {
        var changed = 0
        for row in try await db.query("""
            SELECT id, \(unsafeRaw: column) AS sealed FROM \(unsafeRaw: table) WHERE \(unsafeRaw: column) IS NOT NULL
            """) {
            let id: String = try row.decode("id")
            let sealed: String = try row.decode("sealed")
            guard isStale(sealed) else { continue }
            let resealed = try seal(try open(sealed, context: context(id)), context: context(id))
            try await db.execute("UPDATE \(unsafeRaw: table) SET \(unsafeRaw: column) = \(resealed) WHERE id = \(id)")
            changed += 1
        }
        return changed
    }
}
