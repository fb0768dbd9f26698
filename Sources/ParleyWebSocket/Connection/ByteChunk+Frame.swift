import ParleyIO

extension ByteChunk {
    /// Appends a frame; the caller checked ``freeSpace``.
    func appendFrame(opcode: Opcode, payload: UnsafeRawBufferPointer, maskKey: (UInt8, UInt8, UInt8, UInt8)?) {
        commit(FrameEncoder.write(opcode: opcode, payload: payload, maskKey: maskKey, to: end))
    }
}
