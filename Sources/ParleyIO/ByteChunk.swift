/// A heap block of bytes with a stable address, so queued frames can go straight into `writev`.
///
/// `@unchecked Sendable`: a chunk is either appended to by the one loop that owns it (then never
/// shared), or frozen (``EncodedFrame``) and only read afterwards, from any thread.
package final class ByteChunk: @unchecked Sendable {
    /// The size of the chunks connections append small frames to and loops keep for reuse.
    /// 4 KiB: dozens of small frames per chunk, one page.
    package static let standardCapacity = 4096

    package let base: UnsafeMutableRawPointer
    package let capacity: Int
    /// Bytes in the chunk.
    package var count: Int { used }
    /// `@exclusivity(unchecked)`: read and written in single statements by the one thread that
    /// appends (see the type's note), so the runtime check per access buys nothing. Private,
    /// behind `count`: other modules would access a stored property with the check.
    @exclusivity(unchecked) private var used = 0

    package init(capacity: Int) {
        self.capacity = max(capacity, 1)
        base = UnsafeMutableRawPointer.allocate(byteCount: self.capacity, alignment: 8)
    }

    deinit { base.deallocate() }

    package var freeSpace: Int { capacity - count }

    /// Empties the chunk for reuse.
    package func reset() { used = 0 }

    /// Marks `count` more bytes, written by the caller at ``end``, as part of the chunk; the
    /// caller checked ``freeSpace``.
    package func commit(_ count: Int) {
        used += count
    }

    /// Where the next byte goes.
    package var end: UnsafeMutableRawPointer { base + count }

    package func append(_ bytes: UnsafeRawBufferPointer) {
        guard let source = bytes.baseAddress, bytes.count > 0 else { return }
        (base + count).copyMemory(from: source, byteCount: bytes.count)
        used += bytes.count
    }

    package var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }
}
