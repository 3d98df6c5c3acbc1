import EmporiumStorage
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Checks the key files before anything reads them, so that a missing or unreadable one is
/// reported with the flag and variable that name it, the reason, and how to make one.
/// (The loaders, `SigningKeySource` and `EncryptionKeySource`, then read and parse them.)
public enum KeyFileCheck {
    public static func signingKey(_ configuration: AppConfiguration) throws(ConfigurationError) {
        let create = { (path: String) in "openssl genpkey -algorithm ed25519 -out \(path) && chmod 600 \(path)" }
        guard let path = configuration.jwtKeyFile else {
            if case .postgres = configuration.databaseURL {
                throw ConfigurationError(description: """
                    --jwt-key-file (EMPORIUM_JWT_KEY_FILE) is required with PostgreSQL: every node must sign tokens with \
                    the same Ed25519 key; create one with: \(create("FILE")), and give every node that FILE
                    """)
            }
            return
        }
        try check(path, what: "token signing key", setting: .jwtKeyFile, create: create(path))
    }

    public static func encryptionKeys(_ configuration: AppConfiguration) throws(ConfigurationError) {
        let create = { (path: String) in "umask 077 && echo \"k1 $(openssl rand -base64 32)\" > \(path)" }
        guard let path = configuration.encryptionKeyFile else {
            if case .postgres = configuration.databaseURL {
                throw ConfigurationError(description: """
                    --encryption-key-file (EMPORIUM_ENCRYPTION_KEY_FILE) is required with PostgreSQL: every node must \
                    share the keys; create one with: \(create("FILE")), and give every node that FILE
                    """)
            }
            return
        }
        try check(path, what: "encryption key", setting: .encryptionKeyFile, create: create(path))
    }

    /// Throws when `path` cannot be opened for reading, saying why.
    static func check(_ path: String, what: String, setting: ConfigurationSetting, create: String) throws(ConfigurationError) {
        let prefix = "cannot read the \(what) file \(path) given by \(setting.flag) (\(setting.environmentVariable))"
        // FileManager rather than stat(2): which C module owns `struct stat` varies between
        // compiles, and MemberImportVisibility then fails the build now and then.
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isFolder), isFolder.boolValue {
            throw ConfigurationError(description: "\(prefix): it is a folder; name the key file itself")
        }
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        if descriptor >= 0 {
            close(descriptor)
            return
        }
        switch errno {
        case ENOENT:
            throw ConfigurationError(description: "\(prefix): no such file; correct the path, or create one with: \(create)")
        case ENOTDIR:
            throw ConfigurationError(description: "\(prefix): a part of the path is not a folder; correct the path")
        case EACCES, EPERM:
            throw ConfigurationError(description: """
                \(prefix): permission denied; the user running emporium (uid \(getuid())) must be able to read the file \
                and its folders (e.g. chown that user and chmod 600 the file)
                """)
        case let code:
            throw ConfigurationError(description: "\(prefix): \(String(cString: strerror(code)))")
        }
    }
}
