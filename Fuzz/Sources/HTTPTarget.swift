import ParleyWebSocket

/// The HTTP head parser and the server's handshake decision (RFC 9112, RFC 6455 4.2). However
/// the bytes are cut, the head (or the refusal) is the same; an upgrade is decided only for a
/// request that meets every rule; every answer encodes to a head that parses back.
struct HTTPTarget: FuzzTarget {
    static let handshake = ServerHandshake(
        path: "/parley", allowedOrigins: ["https://good.example"], subprotocols: ["chat"],
        routes: ["/page": .resource(Array("<p>hi</p>".utf8), contentType: "text/html")])

    enum Outcome: Equatable {
        case needMore
        case complete(lines: [String], remainder: [UInt8])
        case failed(status: Int)
    }

    func run(_ input: UnsafeRawBufferPointer) {
        let bytes = Array(input)
        var reference: Outcome?
        for chunks in Splits.of(bytes) {
            let outcome = Self.parse(chunks)
            if let reference {
                require(outcome == reference, "heads cut differently differ: \(outcome) vs \(reference)")
            } else {
                reference = outcome
            }
        }
        guard case .complete(let lines, _)? = reference else { return }
        let request: HTTPRequestHead
        do {
            request = try HTTPHeadParser.request(lines)
        } catch {
            return require([400, 505].contains(error.status), "request refused with \(error.status)")
        }
        for hasCapacity in [true, false] {
            check(request, Self.handshake.decide(request, hasCapacity: hasCapacity), hasCapacity: hasCapacity)
        }
    }

    /// Feeds `chunks` until the head is complete or refused; the remainder includes the chunks not fed.
    static func parse(_ chunks: [ArraySlice<UInt8>]) -> Outcome {
        var parser = HTTPHeadParser(maxBytes: 2048)
        for (index, chunk) in chunks.enumerated() {
            let result = Array(chunk).withUnsafeBytes { bytes in
                Result { () throws(HTTPHeadParser.Failure) -> HTTPHeadParser.Result in try parser.feed(bytes) }
            }
            switch result {
            case .success(.complete(let lines, let remainder)):
                return .complete(lines: lines, remainder: remainder + chunks[(index + 1)...].flatMap { $0 })
            case .success(.needMore): continue
            case .failure(let failure): return .failed(status: failure.status)
            }
        }
        return .needMore
    }

    private func check(_ request: HTTPRequestHead, _ decision: ServerHandshake.Decision, hasCapacity: Bool) {
        let response: HTTPResponse
        switch decision {
        case .upgrade(let answer, let subprotocol):
            response = answer
            let fields = { (name: String) in request.headers.filter { $0.name.lowercased() == name } }
            require(hasCapacity, "upgraded without capacity")
            require(request.method == "GET" && request.version == "HTTP/1.1" && request.path == "/parley",
                    "upgraded \(request.method) \(request.target) \(request.version)")
            require(fields("host").count == 1, "upgraded with \(fields("host").count) Host fields")
            let origins = fields("origin")
            require(origins.count <= 1, "upgraded with \(origins.count) Origin fields")
            require(origins.allSatisfy { $0.value.lowercased() == "https://good.example" }, "upgraded a refused origin")
            require(subprotocol == nil || subprotocol == "chat", "negotiated \(subprotocol ?? "")")
            require(answer.status == 101, "an upgrade answered \(answer.status)")
        case .respond(let answer, _):
            response = answer
            require([200, 304, 400, 403, 404, 405, 426, 503].contains(answer.status), "answered \(answer.status)")
        }
        var parser = HTTPHeadParser(maxBytes: 1 << 16)
        let encoded = response.encoded()
        let parsed = try? encoded.withUnsafeBytes { try parser.feed($0) }
        guard case .complete(let lines, _)? = parsed else { return require(false, "the answer does not parse back") }
        require(lines.first?.hasPrefix("HTTP/1.1 \(response.status) ") == true, "status line \(lines.first ?? "")")
    }
}
