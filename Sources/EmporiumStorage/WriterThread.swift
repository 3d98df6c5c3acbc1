import Foundation
import Synchronization

/// A thread of its own for SQLite's single writer, as a task executor: a task that prefers it
/// runs its write transaction here from the first statement to the commit.
///
/// Why not the shared pool: the writer lock is handed from one task to the next, and a task
/// resumed on the shared pool waits behind every request job queued there. Under checkout load
/// that wait (about half a millisecond) was as long as the transaction itself, so the writer
/// sat idle for nearly half the time it was owned. Here the next holder runs as soon as the
/// last one lets go, and the pool's threads never block on SQLite's writes.
final class WriterThread: TaskExecutor, @unchecked Sendable {
    private struct Queue {
        var jobs = FIFOQueue<UnownedJob>()
        var isStopping = false
    }

    private enum Next {
        case run(UnownedJob)
        case wait
        case exit
    }

    private let queue = Mutex(Queue())
    /// Wakes the thread when a job arrives; the mutex above guards the queue.
    private let wake = NSCondition()

    init(name: String) {
        Thread { [self] in
            // Named from inside, where Linux applies it, so `top -H` and `perf` show it.
            Thread.current.name = name
            self.loop()
        }.start()
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let accepted = queue.withLock { queue -> Bool in
            guard !queue.isStopping else { return false }
            queue.jobs.append(job)
            return true
        }
        guard accepted else {
            // Once stopped, a late job still runs, on the shared pool.
            globalConcurrentExecutor.enqueue(ExecutorJob(job))
            return
        }
        wakeThread()
    }

    /// Lets the thread finish the jobs it has and exit; later jobs run on the shared pool.
    func stop() {
        queue.withLock { $0.isStopping = true }
        wakeThread()
    }

    private func wakeThread() {
        wake.lock()
        wake.signal()
        wake.unlock()
    }

    private func loop() {
        let executor = asUnownedTaskExecutor()
        while true {
            let next = queue.withLock { queue -> Next in
                if let job = queue.jobs.popFirst() { return .run(job) }
                return queue.isStopping ? .exit : .wait
            }
            switch next {
            case .exit:
                return
            case .run(let job):
                job.runSynchronously(on: executor)
            case .wait:
                wake.lock()
                // Checked again under the condition's lock, so a signal sent between the
                // check above and this wait is not lost.
                if queue.withLock({ $0.jobs.isEmpty && !$0.isStopping }) { wake.wait() }
                wake.unlock()
            }
        }
    }
}
