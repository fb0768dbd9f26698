import ParleyWebSocket

extension Server.Configuration {
    /// The live admin dashboard: a page at `<path>/admin` (`/parley/admin` by default) that
    /// shows connections over the last minutes, messages per second, namespaces and rooms with
    /// their members' addresses, refusals, sends dropped for slow consumers and the cluster
    /// adapter's state, updated every second over a namespace of its own.
    ///
    /// Read-only: it shows counts, room names, socket ids and addresses, never the contents of
    /// a message, and offers no action. Open it as `<path>/admin?token=T` (the page then drops
    /// the token from the address bar) or send `Authorization: Bearer T`; anything else gets
    /// HTTP 401, and its namespace refuses sockets without the token. Tokens are compared in
    /// constant time.
    ///
    /// It costs nothing while nobody watches: the sampler runs only while a dashboard is open
    /// (then once a second: a snapshot of the counters, one lock per namespace and per socket,
    /// and one small message per open dashboard).
    ///
    /// ```swift
    /// var configuration = Server.Configuration(port: 8887)
    /// configuration.admin = .init(token: "a long random string")
    /// // open http://localhost:8887/parley/admin?token=a%20long%20random%20string
    /// ```
    public struct Admin: Sendable {
        /// The secret that opens the dashboard; an empty token opens nothing.
        public var token: String
        /// The namespace the page's live updates use. `/parley-admin`: apart from the
        /// application's own names (an app's `/admin` stays its own). Server-wide middleware
        /// (``Server/use(_:)``) does not run for it; the token guards it.
        public var namespace = "/parley-admin"

        /// - Parameter token: the secret that opens the dashboard.
        public init(token: String) {
            self.token = token
        }
    }
}

extension Server {
    /// Where the admin page is served for a WebSocket `path`: `/parley` -> `/parley/admin`.
    public static func adminPath(for path: String) -> String {
        path.hasSuffix("/") ? path + "admin" : path + "/admin"
    }

    /// The WebSocket server's configuration with the operator routes: `/metrics` and the admin
    /// page, when configured. The routes reach the server through `reference` (weak: the
    /// server owns its configuration).
    static func transportConfiguration(_ configuration: Configuration, _ router: Router,
                                       _ reference: ServerReference) -> WebSocketServer.Configuration {
        var transport = configuration.webSocketConfiguration
        if let metricsPath = configuration.metricsPath {
            transport.dynamicRoutes[metricsPath] = { _ in
                guard let server = reference.server else { return .plain(503) }
                return metricsResponse(server.metrics)
            }
        }
        if let admin = configuration.admin {
            AdminDashboard(admin, path: adminPath(for: configuration.path), router: router, reference: reference)
                .install(on: &transport)
        }
        return transport
    }
}
