import Foundation
import ParleyWebSocket
import Synchronization

/// A connection to Chromium's DevTools endpoint (the browser target), over the project's own
/// WebSocket client. Commands are JSON `{id, method, params, sessionId}`; answers carry the id.
/// Events (no id) are ignored: the tests ask pages for their state instead.
final class DevTools: Sendable {
    private let socket: WebSocket
    private let state = Mutex<(nextID: Int, waiting: [Int: CheckedContinuation<Data, any Error>], closed: Bool)>((0, [:], false))

    private init(socket: WebSocket) {
        self.socket = socket
    }

    static func connect(_ url: String) async throws -> DevTools {
        var configuration = WebSocketClient.Configuration()
        configuration.webSocket.maxFrameSize = 64 << 20     // screenshots are large
        configuration.webSocket.maxMessageSize = 64 << 20
        configuration.webSocket.maxBufferedBytes = 64 << 20
        let holder = Mutex<DevTools?>(nil)
        let socket = try await WebSocketClient.connect(to: url, configuration: configuration) { socket in
            socket.onMessage { _, message in
                guard case .text(let text) = message else { return }
                holder.withLock { $0 }?.received(Data(text.utf8))
            }
            socket.onClose { _, code, reason in holder.withLock { $0 }?.failAll(EndToEndError("DevTools connection closed: \(code) \(reason)")) }
        }
        let devTools = DevTools(socket: socket)
        holder.withLock { $0 = devTools }
        return devTools
    }

    /// Sends a command and returns its `result` object (as JSON data).
    /// - Throws: the command's error, a closed connection, or no answer within `timeout`.
    func call(_ method: String, _ params: [String: Any] = [:], session: String? = nil,
              timeout: Duration = .seconds(30)) async throws -> [String: Any] {
        var message: [String: Any] = ["method": method, "params": params]
        if let session { message["sessionId"] = session }
        let id = state.withLock { state in
            state.nextID += 1
            return state.nextID
        }
        message["id"] = id
        let request = try JSONSerialization.data(withJSONObject: message)
        let timer = Task { [weak self] in
            try await Task.sleep(for: timeout)
            self?.complete(id, .failure(EndToEndError("no DevTools answer to \(method) within \(timeout)")))
        }
        defer { timer.cancel() }
        let answer = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Data, any Error>) in
            let closed = state.withLock { state in
                if !state.closed { state.waiting[id] = continuation }
                return state.closed
            }
            if closed { return continuation.resume(throwing: EndToEndError("DevTools connection closed")) }
            _ = socket.send(text: String(decoding: request, as: UTF8.self))
        }
        guard let object = try JSONSerialization.jsonObject(with: answer) as? [String: Any] else {
            throw EndToEndError("DevTools answer is not an object")
        }
        if let error = object["error"] as? [String: Any] {
            throw EndToEndError("\(method): \(error["message"] ?? error)")
        }
        return object["result"] as? [String: Any] ?? [:]
    }

    /// Opens a new page (tab) and attaches to it, its viewport `width` x `height` CSS pixels;
    /// `mobile` emulates a phone (touch, the mobile viewport rules).
    func newPage(width: Int = 1100, height: Int = 700, mobile: Bool = false) async throws -> Page {
        let target = try await call("Target.createTarget", ["url": "about:blank"])
        guard let targetID = target["targetId"] as? String else { throw EndToEndError("no targetId") }
        let attached = try await call("Target.attachToTarget", ["targetId": targetID, "flatten": true])
        guard let session = attached["sessionId"] as? String else { throw EndToEndError("no sessionId") }
        let page = Page(devTools: self, session: session)
        _ = try await page.call("Emulation.setDeviceMetricsOverride",
                                ["width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile])
        if mobile { _ = try await page.call("Emulation.setTouchEmulationEnabled", ["enabled": true, "maxTouchPoints": 5]) }
        return page
    }

    func close() {
        failAll(EndToEndError("DevTools connection closed"))
        socket.close()
    }

    private func received(_ data: Data) {
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any], let id = object["id"] as? Int else { return }
        complete(id, .success(data))
    }

    private func complete(_ id: Int, _ result: Result<Data, any Error>) {
        let continuation = state.withLock { $0.waiting.removeValue(forKey: id) }
        continuation?.resume(with: result)
    }

    private func failAll(_ error: any Error) {
        let waiting = state.withLock { state in
            state.closed = true
            defer { state.waiting = [:] }
            return state.waiting
        }
        for continuation in waiting.values { continuation.resume(throwing: error) }
    }
}

/// One page (tab) of the browser.
struct Page: Sendable {
    let devTools: DevTools
    let session: String

    func call(_ method: String, _ params: [String: Any] = [:], timeout: Duration = .seconds(30)) async throws -> [String: Any] {
        try await devTools.call(method, params, session: session, timeout: timeout)
    }

    /// Navigates to `url` and waits until `ready` (a JavaScript expression) is true there.
    func open(_ url: String, ready: String = "document.readyState === 'complete'") async throws {
        let result = try await call("Page.navigate", ["url": url])
        if let error = result["errorText"] as? String { throw EndToEndError("navigating to \(url): \(error)") }
        try await waitFor("location.href.startsWith(\(jsString(url))) && (\(ready))")
    }

    /// Evaluates `expression` in the page (awaiting a Promise) and returns its value as JSON.
    @discardableResult
    func evaluate(_ expression: String, timeout: Duration = .seconds(30)) async throws -> Any? {
        let result = try await call("Runtime.evaluate", ["expression": expression, "awaitPromise": true, "returnByValue": true],
                                    timeout: timeout)
        if let exception = result["exceptionDetails"] as? [String: Any] {
            let detail = (exception["exception"] as? [String: Any])?["description"] ?? exception["text"] ?? exception
            throw EndToEndError("page threw: \(detail)\n  in: \(expression.prefix(300))")
        }
        return (result["result"] as? [String: Any])?["value"]
    }

    /// The string value of `expression`.
    func string(_ expression: String) async throws -> String {
        let value = try await evaluate(expression)
        guard let string = value as? String else { throw EndToEndError("\(expression) is \(String(describing: value)), not a string") }
        return string
    }

    /// Waits until `condition` (JavaScript) is truthy in the page: the page itself polls it
    /// every 20 ms and the call fails with the page's state described by `describe` after `timeout`.
    func waitFor(_ condition: String, timeout: Duration = .seconds(10), describe: String = "''") async throws {
        let milliseconds = Int(timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
        let script = """
            new Promise((resolve, reject) => {
              const deadline = Date.now() + \(milliseconds);
              const check = () => {
                let value = false;
                try { value = (\(condition)); } catch (error) { value = false; }
                if (value) return resolve(true);
                if (Date.now() > deadline) {
                  let state = ""; try { state = String(\(describe)); } catch (error) { state = String(error); }
                  return reject(new Error("timed out after \(milliseconds) ms waiting for: " + \(jsString(condition)) + (state ? " (" + state + ")" : "")));
                }
                setTimeout(check, 20);
              };
              check();
            })
            """
        try await evaluate(script, timeout: timeout + .seconds(10))
    }

    /// Saves a PNG screenshot of the page.
    func screenshot(to path: String) async throws {
        _ = try await call("Page.bringToFront")
        let result = try await call("Page.captureScreenshot", ["format": "png"])
        guard let base64 = result["data"] as? String, let data = Data(base64Encoded: base64) else { throw EndToEndError("no screenshot") }
        try data.write(to: URL(fileURLWithPath: path))
    }
}

/// `text` as a JavaScript string literal.
func jsString(_ text: String) -> String {
    let data = try? JSONSerialization.data(withJSONObject: [text])
    let array = data.map { String(decoding: $0, as: UTF8.self) } ?? "[\"\"]"
    return String(array.dropFirst().dropLast())
}
