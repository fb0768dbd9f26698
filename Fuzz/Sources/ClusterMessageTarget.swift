import Parley
import ParleyRedisAdapter

/// Messages between nodes (Protocol.md, scale-out): one that decodes encodes again, and that
/// encoding decodes to the same message and encodes to the same bytes.
struct ClusterMessageTarget: FuzzTarget {
    func run(_ input: UnsafeRawBufferPointer) {
        guard let message = try? ClusterMessage(decoding: Array(input), namespace: "/") else { return }
        guard let encoded = message.encoded() else { return require(false, "a decoded message does not encode") }
        guard let again = try? ClusterMessage(decoding: encoded, namespace: "/") else { return require(false, "an encoded message does not decode") }
        require(again == message, "decode(encode(m)) != m")
        require(again.encoded() == encoded, "encoding is not stable")
    }
}
