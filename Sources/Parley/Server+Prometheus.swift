import ParleyWebSocket

extension Server.Metrics {
    /// The metrics in the Prometheus text exposition format (version 0.0.4): a `# HELP` and a
    /// `# TYPE` line per family, then its samples; counters end in `_total`. Every refusal
    /// cause is listed, zeros included, so that each series exists from the first scrape.
    ///
    /// ```
    /// # HELP parley_connections_open WebSocket connections open now.
    /// # TYPE parley_connections_open gauge
    /// parley_connections_open 3
    /// ```
    public var prometheusText: String {
        var text = ""
        func family(_ name: String, _ type: String, _ help: String, _ samples: [(labels: String, value: Int)]) {
            text += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
            for sample in samples { text += "\(name)\(sample.labels) \(sample.value)\n" }
        }
        func one(_ name: String, _ type: String, _ help: String, _ value: Int) {
            family(name, type, help, [("", value)])
        }
        one("parley_connections_open", "gauge", "WebSocket connections open now.", connectionsOpen)
        one("parley_connections_accepted_total", "counter", "WebSocket upgrades accepted.", connectionsAccepted)
        family("parley_connections_refused_total", "counter", "Connections and requests refused, by cause.",
               RefusalCause.all.map { (#"{cause="\#($0.rawValue)"}"#, refusals[$0, default: 0]) })
        family("parley_sockets_connected", "gauge", "Connected sockets, by namespace.",
               sockets.keys.sorted().map { (#"{namespace="\#(Self.escapedLabel($0))"}"#, sockets[$0] ?? 0) })
        one("parley_messages_received_total", "counter", "Messages received from clients.", messagesReceived)
        one("parley_messages_sent_total", "counter", "Messages queued for clients, once per recipient.", messagesSent)
        one("parley_received_bytes_total", "counter", "Bytes read from clients, framing included.", bytesReceived)
        one("parley_sent_bytes_total", "counter", "Bytes written to clients, framing included.", bytesSent)
        one("parley_volatile_dropped_total", "counter", "Volatile emits dropped for clients not keeping up.", volatileDropped)
        one("parley_send_queue_full_closes_total", "counter", "Clients disconnected because their send queue was full.",
            sendQueueFullCloses)
        one("parley_pending_acks", "gauge", "Acknowledgements awaited from clients.", pendingAcks)
        one("parley_accept_pauses_total", "counter", "Times accepting paused for lack of file descriptors.", acceptPauses)
        if let cluster {
            let kind = #"{adapter="\#(Self.escapedLabel(cluster.kind))"}"#
            family("parley_cluster_up", "gauge", "Whether the cluster adapter is connected (1) or not (0).",
                   [(kind, cluster.connected ? 1 : 0)])
            family("parley_cluster_publishes_dropped_total", "counter", "Publications to other nodes dropped.",
                   [(kind, cluster.publishesDropped)])
            family("parley_cluster_entries_missed_total", "counter", "Kept events and room operations that never reached this node.",
                   [(kind, cluster.entriesMissed)])
        }
        return text
    }

    /// A label value as the exposition format writes it: `\`, `"` and newline escaped.
    static func escapedLabel(_ value: String) -> String {
        var escaped = ""
        for character in value {
            switch character {
            case "\\": escaped += "\\\\"
            case "\"": escaped += "\\\""
            case "\n": escaped += "\\n"
            default: escaped.append(character)
            }
        }
        return escaped
    }
}

extension Server {
    /// The media type of ``Metrics/prometheusText``.
    static let prometheusContentType = "text/plain; version=0.0.4; charset=utf-8"

    /// The answer at ``Configuration/metricsPath``: the metrics now, never cached.
    static func metricsResponse(_ metrics: Metrics) -> HTTPResponse {
        HTTPResponse(status: 200, headers: [("Content-Type", prometheusContentType), ("Cache-Control", "no-store")],
                     body: Array(metrics.prometheusText.utf8))
    }
}
