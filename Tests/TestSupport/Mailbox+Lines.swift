import Foundation
import Synchronization

extension Mailbox where Element == String {
    /// Puts every line `handle` delivers (a child process's output, without the newline) into
    /// this mailbox as it arrives, and finishes the mailbox at the end of the output.
    public func collectLines(from handle: FileHandle) {
        let partial = Mutex<[UInt8]>([])
        handle.drain(onData: { [self] data in
            let complete = partial.withLock { buffer -> [String] in
                buffer += data
                var found: [String] = []
                while let newline = buffer.firstIndex(of: 0x0A) {
                    found.append(String(decoding: buffer[..<newline], as: UTF8.self))
                    buffer.removeSubrange(...newline)
                }
                return found
            }
            for line in complete { put(line) }
        }, onEnd: { [self] in finish() })
    }
}
