@_spi(IO) import ParleyIO
import Foundation
import Synchronization

extension WebSocketServer {
    /// Samples the server's load on `loop` every ``MemoryTrimPolicy/sampleInterval`` and, after
    /// a large drop (see ``MemoryTrimPolicy``), gives the allocator's free memory back to the
    /// system on a thread of its own, so that no loop waits for it. Stops when the server does.
    static func startMemoryTrimming(on loop: EventLoop, context: Context) {
        let policy = Mutex(MemoryTrimPolicy())
        @Sendable func sample() {
            guard context.accepting.load(ordering: .acquiring) else { return }
            let connections = context.clientCount.load(ordering: .relaxed)
            let buffered = context.budget.usedBytes
            if policy.withLock({ $0.shouldTrim(connections: connections, bufferedBytes: buffered, now: .now) }) {
                Thread.detachNewThread {
                    releaseFreeMemory()
                    context.configuration.logger.debug("parley: free memory given back (\(connections) clients, \(buffered) bytes buffered)")
                }
            }
            loop.execute(after: MemoryTrimPolicy.sampleInterval, sample)
        }
        loop.execute(after: MemoryTrimPolicy.sampleInterval, sample)
    }
}
