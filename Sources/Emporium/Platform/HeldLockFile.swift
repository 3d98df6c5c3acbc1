import EmporiumStorage
import ServiceLifecycle

/// Keeps a server's SQLite lock file while the server runs, and gives it up at the end of a
/// graceful shutdown. Listed first among the services, so that it is the last to stop: the
/// database is closed by then.
struct HeldLockFile: Service {
    let lock: SQLiteLockFile

    func run() async throws {
        try? await gracefulShutdown()
        lock.release()
    }
}
