import ParleyRedis

/// Redis URLs: a URL that parses has a host, a port in 1...65535 and a database >= 0, and its
/// description (which leaves the credentials out) parses back to the same place.
struct RedisURLTarget: FuzzTarget {
    func run(_ input: UnsafeRawBufferPointer) {
        let text = String(decoding: input, as: UTF8.self)
        guard let url = try? RedisURL(text) else { return }
        require(!url.host.isEmpty && (1...65535).contains(url.port) && url.database >= 0, "parsed \(url) from \(text)")
        guard let again = try? RedisURL(url.description) else { return require(false, "\(url) does not parse back (from \(text))") }
        require(again.host == url.host && again.port == url.port && again.database == url.database,
                "\(url) parses back as \(again)")
        require(again.user == nil && again.password == nil, "the description of \(text) has credentials")
    }
}
