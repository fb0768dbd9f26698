import ParleyWebSocket

extension Server {
    /// The browser client, `parley.js` (an ES module), as served at `<path>/parley.js`:
    /// `text/javascript`, with an `ETag` (a hash of the bytes) and `Cache-Control: no-cache`.
    ///
    /// The bytes are those of `Sources/Parley/Resources/parley.js`, compiled into the library,
    /// so a copied binary serves them too. Serve them elsewhere with a route of your own:
    ///
    /// ```swift
    /// configuration.routes["/js/parley.js"] = Server.clientScript
    /// ```
    public static let clientScript = HTTPResponse.resource(PackageResources.parley_js, contentType: "text/javascript; charset=utf-8")

    /// Where the server serves ``clientScript`` for a WebSocket `path`: `/parley` -> `/parley/parley.js`.
    public static func clientScriptPath(for path: String) -> String {
        path.hasSuffix("/") ? path + "parley.js" : path + "/parley.js"
    }
}
