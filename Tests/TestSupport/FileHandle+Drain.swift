import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension FileHandle {
    /// Reads this handle on a thread of its own until the end of its data (a child process's
    /// output: its exit), calling `onData` with each chunk as it arrives and `onEnd` once at
    /// the end.
    ///
    /// Blocking `read(2)` instead of `readabilityHandler`: the handler's dispatch source watches
    /// the descriptor in libdispatch's own epoll, and when the handle is released (closing the
    /// descriptor) before the source's cancellation is processed, a socket that reuses the
    /// number can crash libdispatch's event loop. The thread holds the handle until the end, so
    /// the descriptor is never closed under a read. (`read(upToCount:)` would wait for the
    /// whole count on a pipe.)
    public func drain(onData: @escaping @Sendable (Data) -> Void, onEnd: @escaping @Sendable () -> Void) {
        let thread = Thread { [self] in
            let descriptor = fileDescriptor
            var buffer = [UInt8](repeating: 0, count: 65_536)
            while true {
                let count = buffer.withUnsafeMutableBytes { systemRead(descriptor, $0.baseAddress, $0.count) }
                if count > 0 {
                    onData(Data(buffer[0..<count]))
                } else if count < 0 && errno == EINTR {
                    continue
                } else {
                    break
                }
            }
            onEnd()
        }
        thread.name = "test-output-drain"
        thread.start()
    }
}

/// `read(2)`, out of reach of `FileHandle.read` inside the extension.
private func systemRead(_ descriptor: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int {
    read(descriptor, buffer, count)
}
