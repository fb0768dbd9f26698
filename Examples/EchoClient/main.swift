import Foundation
import ParleyWebSocket

// parley-echo-client: sends each line of standard input as a text message and prints what
// comes back. Try it against `parley-server --raw-echo`:
//
//     swift run parley-echo-client ws://localhost:8887/
//
// End the input (Ctrl-D) to close the connection with 1000.

let url = CommandLine.arguments.dropFirst().first ?? "ws://localhost:8887/"
let (closed, closedContinuation) = AsyncStream<Void>.makeStream()
do {
    let socket = try await WebSocketClient.connect(to: url) { socket in
        socket.onMessage { _, message in
            switch message {
            case .text(let text): print("< \(text)")
            case .binary(let bytes): print("< \(bytes.count) binary bytes")
            }
        }
        socket.onClose { _, code, reason in
            print("closed: \(code) \(reason)")
            closedContinuation.finish()
        }
    }
    print("connected to \(url); type lines to send, Ctrl-D to close")
    while let line = readLine() {
        socket.send(text: line)
    }
    socket.close()
    for await _ in closed {}
} catch {
    print("parley-echo-client: \(error)")
    exit(1)
}
