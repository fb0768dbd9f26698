extension WebSocketServer {
    /// What a server has done since it was created: a snapshot of counters an operator graphs.
    ///
    /// Counts are kept per event loop with relaxed atomics and summed when read, so a snapshot
    /// taken while traffic flows may be a few messages apart between fields; every counter only
    /// grows (``connectionsOpen`` is the one gauge).
    ///
    /// ```swift
    /// let metrics = server.metrics
    /// print(metrics.connectionsOpen, metrics.messagesReceived, metrics.refusals[403, default: 0])
    /// ```
    public struct Metrics: Sendable, Equatable {
        /// WebSocket connections open now.
        public var connectionsOpen = 0
        /// Upgrades accepted (connections that reached `101 Switching Protocols`).
        public var connectionsAccepted = 0
        /// Requests answered with an HTTP error, by status: 400 (a malformed request or
        /// handshake), 401 (a dynamic route's token missing), 403 (an origin not allowed), 404, 405, 426 (not a WebSocket upgrade, or
        /// another version), 431 (a head over the limit), 503 (``Configuration/maxClients``
        /// connected); every other status is counted under 0.
        public var refusals: [Int: Int] = [:]
        /// Connections dropped because their request head did not arrive within
        /// ``Configuration/handshakeTimeout``.
        public var handshakeTimeouts = 0
        /// Times accepting paused because the process had no descriptor left.
        public var acceptPauses = 0
        /// Data messages received (text and binary, after reassembly; control frames not counted).
        public var messagesReceived = 0
        /// Data messages queued for sending (a broadcast counts once per target).
        public var messagesSent = 0
        /// Bytes read from the network, frame headers and control frames included.
        public var bytesReceived = 0
        /// Bytes handed to the kernel, frame headers, control frames and handshake responses included.
        public var bytesSent = 0
        /// Volatile sends skipped because the target was not writable.
        public var volatileDropped = 0
        /// Connections closed (1008 "send queue full") because their peer did not read fast
        /// enough for ``WebSocket/Configuration/maxBufferedBytes``.
        public var sendQueueFullCloses = 0
        /// Peer data the connections hold now, as charged against
        /// ``Configuration/maxBufferedBytes`` (the bytes above each connection's first 16 KiB,
        /// in 16 KiB steps: see ``BufferBudget``). A gauge.
        public var bufferedBytes = 0
        /// Connections closed (1013 "server buffers full") to bring the buffered bytes back
        /// under ``Configuration/maxBufferedBytes``.
        public var bufferBudgetCloses = 0

        public init() {}
    }

    /// The counters now. Cheap: a few relaxed loads per event loop.
    public var metrics: Metrics {
        var metrics = Metrics()
        for counters in context.counters { counters.add(to: &metrics) }
        metrics.connectionsOpen = connectionCount
        metrics.acceptPauses = context.descriptorPauses.load(ordering: .relaxed)
        metrics.bufferedBytes = context.budget.usedBytes
        metrics.bufferBudgetCloses = context.budget.closeCount
        return metrics
    }
}
