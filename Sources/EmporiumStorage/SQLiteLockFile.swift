import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The exclusive lock a server holds on `FILE.lock` beside its SQLite database, so that a
/// second server on the same file refuses to start instead of sharing it (one process per
/// file: each server assumes its caches and its background work are the file's only ones).
///
/// It is an `flock` on an open descriptor, so the operating system drops it when the process
/// ends in any way, a crash or `kill -9` included: a lock file left on disk is never stale,
/// and deleting it is never needed. The file holds the owner's process id (and, once it
/// listens, its address) for the message the next server prints. One-off commands
/// (`migrate`, `seed`, `import`, …) do not take it.
public final class SQLiteLockFile: Sendable {
    public let path: String
    private let descriptor: Mutex<Int32>

    private init(path: String, descriptor: Int32) {
        self.path = path
        self.descriptor = Mutex(descriptor)
    }

    deinit {
        release()
    }

    /// Takes the lock beside `databasePath`, or says who holds it.
    public static func acquire(databasePath: String) throws(SQLiteLockError) -> SQLiteLockFile {
        let path = databasePath + ".lock"
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw SQLiteLockError(
                description: "cannot open the lock file \(path): \(String(cString: strerror(errno))); check the folder's permissions")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let reason = errno
            let owner = reason == EWOULDBLOCK ? Self.owner(descriptor) : nil
            close(descriptor)
            guard reason == EWOULDBLOCK else {
                throw SQLiteLockError(description: "cannot lock \(path): \(String(cString: strerror(reason)))")
            }
            let who = owner.map { "another emporium server (\($0))" } ?? "another emporium server"
            throw SQLiteLockError(description: """
                \(who) is already serving \(databasePath): it holds the lock file \(path). One server per SQLite \
                file: stop that one first, or give this one another --database-url (EMPORIUM_DATABASE_URL). \
                Commands such as migrate, seed and import may still run beside it
                """)
        }
        let lock = SQLiteLockFile(path: path, descriptor: descriptor)
        lock.record("")
        return lock
    }

    /// Writes this process's id and `note` (where it listens) into the file, for the message
    /// of a server that finds the lock taken.
    public func record(_ note: String) {
        descriptor.withLock { descriptor in
            guard descriptor >= 0 else { return }
            let line = Array("\(getpid())\(note.isEmpty ? "" : " \(note)")\n".utf8)
            _ = ftruncate(descriptor, 0)
            _ = line.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 0) }
        }
    }

    /// Gives the lock up (closing the descriptor releases it); the file stays.
    public func release() {
        descriptor.withLock { descriptor in
            guard descriptor >= 0 else { return }
            close(descriptor)
            descriptor = -1
        }
    }

    /// "process 1234, listening on http://127.0.0.1:8080", from the holder's line.
    private static func owner(_ descriptor: Int32) -> String? {
        var buffer = [UInt8](repeating: 0, count: 512)
        let count = buffer.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, 0) }
        guard count > 0 else { return nil }
        let line = String(decoding: buffer[..<count], as: UTF8.self).split(separator: "\n").first ?? ""
        let fields = line.split(separator: " ", maxSplits: 1)
        guard let pid = fields.first, Int32(pid) != nil else { return nil }
        return fields.count > 1 ? "process \(pid), \(fields[1])" : "process \(pid)"
    }
}

/// Why a server could not take its SQLite file's lock: a sentence that says what to do.
public struct SQLiteLockError: Error, Sendable, CustomStringConvertible {
    public let description: String
}
