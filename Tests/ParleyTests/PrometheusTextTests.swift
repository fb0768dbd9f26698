import XCTest
@testable import Parley

final class PrometheusTextTests: XCTestCase {
    func test_prometheusText_isTheExpositionFormat_byteForByte() {
        var metrics = Server.Metrics()
        metrics.connectionsOpen = 3
        metrics.connectionsAccepted = 7
        metrics.refusals = [.origin: 2, .middleware: 1]
        metrics.sockets = ["/": 2, #"/a"b\c"#: 1]
        metrics.messagesReceived = 10
        metrics.messagesSent = 12
        metrics.bytesReceived = 1000
        metrics.bytesSent = 2000
        metrics.volatileDropped = 4
        metrics.sendQueueFullCloses = 1
        metrics.pendingAcks = 5
        metrics.acceptPauses = 0
        metrics.cluster = .init(kind: "redis", connected: true, publishesDropped: 6, entriesMissed: 7)
        let expected = #"""
            # HELP parley_connections_open WebSocket connections open now.
            # TYPE parley_connections_open gauge
            parley_connections_open 3
            # HELP parley_connections_accepted_total WebSocket upgrades accepted.
            # TYPE parley_connections_accepted_total counter
            parley_connections_accepted_total 7
            # HELP parley_connections_refused_total Connections and requests refused, by cause.
            # TYPE parley_connections_refused_total counter
            parley_connections_refused_total{cause="bad_request"} 0
            parley_connections_refused_total{cause="unauthorized"} 0
            parley_connections_refused_total{cause="origin"} 2
            parley_connections_refused_total{cause="not_found"} 0
            parley_connections_refused_total{cause="method"} 0
            parley_connections_refused_total{cause="upgrade_required"} 0
            parley_connections_refused_total{cause="header_too_large"} 0
            parley_connections_refused_total{cause="full"} 0
            parley_connections_refused_total{cause="handshake_timeout"} 0
            parley_connections_refused_total{cause="middleware"} 1
            parley_connections_refused_total{cause="namespace"} 0
            parley_connections_refused_total{cause="other"} 0
            # HELP parley_sockets_connected Connected sockets, by namespace.
            # TYPE parley_sockets_connected gauge
            parley_sockets_connected{namespace="/"} 2
            parley_sockets_connected{namespace="/a\"b\\c"} 1
            # HELP parley_messages_received_total Messages received from clients.
            # TYPE parley_messages_received_total counter
            parley_messages_received_total 10
            # HELP parley_messages_sent_total Messages queued for clients, once per recipient.
            # TYPE parley_messages_sent_total counter
            parley_messages_sent_total 12
            # HELP parley_received_bytes_total Bytes read from clients, framing included.
            # TYPE parley_received_bytes_total counter
            parley_received_bytes_total 1000
            # HELP parley_sent_bytes_total Bytes written to clients, framing included.
            # TYPE parley_sent_bytes_total counter
            parley_sent_bytes_total 2000
            # HELP parley_volatile_dropped_total Volatile emits dropped for clients not keeping up.
            # TYPE parley_volatile_dropped_total counter
            parley_volatile_dropped_total 4
            # HELP parley_send_queue_full_closes_total Clients disconnected because their send queue was full.
            # TYPE parley_send_queue_full_closes_total counter
            parley_send_queue_full_closes_total 1
            # HELP parley_pending_acks Acknowledgements awaited from clients.
            # TYPE parley_pending_acks gauge
            parley_pending_acks 5
            # HELP parley_accept_pauses_total Times accepting paused for lack of file descriptors.
            # TYPE parley_accept_pauses_total counter
            parley_accept_pauses_total 0
            # HELP parley_cluster_up Whether the cluster adapter is connected (1) or not (0).
            # TYPE parley_cluster_up gauge
            parley_cluster_up{adapter="redis"} 1
            # HELP parley_cluster_publishes_dropped_total Publications to other nodes dropped.
            # TYPE parley_cluster_publishes_dropped_total counter
            parley_cluster_publishes_dropped_total{adapter="redis"} 6
            # HELP parley_cluster_entries_missed_total Kept events and room operations that never reached this node.
            # TYPE parley_cluster_entries_missed_total counter
            parley_cluster_entries_missed_total{adapter="redis"} 7

            """#
        XCTAssertEqual(Array(metrics.prometheusText.utf8), Array(expected.utf8))
    }

    func test_prometheusText_leavesOutTheCluster_forASingleNode() {
        let text = Server.Metrics().prometheusText
        XCTAssertFalse(text.contains("parley_cluster"))
        XCTAssertTrue(text.hasSuffix("parley_accept_pauses_total 0\n"))
    }

    func test_escapedLabel_escapesBackslashQuoteAndNewline() {
        XCTAssertEqual(Server.Metrics.escapedLabel("a\\b\"c\nd"), #"a\\b\"c\nd"#)
    }
}
