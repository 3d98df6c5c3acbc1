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
        var jobs: [UnownedJob] = []
        var head = 0
        var isStopping = false
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
        wake.lock()
        wake.signal()
        wake.unlock()
    }

    /// Lets the thread finish the jobs it has and exit; later jobs run on the shared pool.
    func stop() {
        queue.withLock { $0.isStopping = true }
        wake.lock()
        wake.signal()
        wake.unlock()
    }

    private func loop() {
        let executor = asUnownedTaskExecutor()
        while true {
            let next = queue.withLock { queue -> UnownedJob?? in
                if queue.head < queue.jobs.count {
                    let job = queue.jobs[queue.head]
                    queue.head += 1
                    if queue.head == queue.jobs.count {
                        queue.jobs.removeAll(keepingCapacity: true)
                        queue.head = 0
                    } else if queue.head > 64, queue.head * 2 > queue.jobs.count {
                        // A backlog that never drains must not keep the jobs it has run.
                        queue.jobs.removeFirst(queue.head)
                        queue.head = 0
                    }
                    return .some(job)
                }
                return queue.isStopping ? .none : .some(nil)
            }
            switch next {
            case .none:
                return
            case .some(.some(let job)):
                job.runSynchronously(on: executor)
            case .some(.none):
                wake.lock()
                // Checked again under the condition's lock, so a signal sent between the
                // check above and this wait is not lost.
                if queue.withLock({ $0.head == $0.jobs.count && !$0.isStopping }) { wake.wait() }
                wake.unlock()
            }
        }
    }
}
