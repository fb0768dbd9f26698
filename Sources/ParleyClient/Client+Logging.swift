import ParleyWebSocket

extension Client {
    /// Writes a connection event to ``Options/logger``: `reconnect_failed` as a warning, the
    /// other connection events at `debug`, application events not at all (their data is the
    /// application's, not the log's).
    func log(_ event: ClientEvent) {
        let logger = options.logger
        switch event {
        case .event: return
        case .reconnectFailed:
            logger.warning("parley client: reconnection failed; disconnected until connect() is called", metadata: ["url": url])
        default:
            logger.debug("parley client: \(event)", metadata: ["url": url])
        }
    }
}
