import ParleyProtocol

extension Handshake {
    /// Whether the query parameter `name` equals `secret`, compared in constant time: how long
    /// the comparison takes depends on the secret's length only, never on how many leading
    /// characters a guess got right.
    ///
    /// ```swift
    /// io.use { handshake in
    ///     guard handshake.query("token", matchesSecret: "s3cret") else { throw ConnectError("unauthorized") }
    /// }
    /// ```
    /// - Parameters:
    ///   - name: the query parameter, e.g. `token`.
    ///   - secret: the expected value.
    /// - Returns: false when the parameter is absent or differs.
    public func query(_ name: String, matchesSecret secret: String) -> Bool {
        guard let given = query[name] else { return false }
        return Self.constantTimeEquals(Array(given.utf8), Array(secret.utf8))
    }

    /// Whether the string member `name` of the Socket.IO `auth` payload (``auth``) equals
    /// `secret`, compared in constant time as ``query(_:matchesSecret:)`` does.
    ///
    /// ```swift
    /// io.use { handshake in
    ///     guard handshake.query("token", matchesSecret: "s3cret") || handshake.auth("token", matchesSecret: "s3cret") else {
    ///         throw ConnectError("unauthorized")
    ///     }
    /// }
    /// ```
    /// - Parameters:
    ///   - name: the member of the `auth` object, e.g. `token`.
    ///   - secret: the expected value.
    /// - Returns: false when there is no `auth` object (envelope clients), the member is absent,
    ///   is not a string, or differs.
    public func auth(_ name: String, matchesSecret secret: String) -> Bool {
        guard let members = try? auth?.decode([String: RawJSON].self),
              let member = members[name], let given = try? member.decode(String.self) else { return false }
        return Self.constantTimeEquals(Array(given.utf8), Array(secret.utf8))
    }

    /// Compares every byte of `expected` whatever the differences found, folding them into one value.
    static func constantTimeEquals(_ given: [UInt8], _ expected: [UInt8]) -> Bool {
        var difference: UInt8 = given.count == expected.count ? 0 : 1
        for index in expected.indices {
            let byte = index < given.count ? given[index] : 0
            difference |= byte ^ expected[index]
        }
        return difference == 0
    }
}
