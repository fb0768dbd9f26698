import Parley
import ParleyClient

// A server: port 0 lets the system pick a free port, which start() returns once listening.
let io = Server(.init(port: 0))
io.onConnection { socket in
    socket.on("hello") { (name: String, ack: Ack) in
        print("server: \(socket.id) says hello, as \(name)")
        ack("Welcome, \(name)!")                      // the reply to the client's emitWithAck
    }
}
let port = try io.start()

// A client of that server, in the same process.
var options = Client.Options()
options.autoConnect = false                           // listen to its events first, then connect
let client = Client(url: "ws://127.0.0.1:\(port)/parley", options: options)
let events = client.events
client.connect()
for await event in events {
    if case .connect = event { break }
}
print("client: connected as \(client.id ?? "?")")
let reply: String = try await client.emitWithAck("hello", "newcomer")
print("client: the server replied \"\(reply)\"")

client.disconnect()
await io.close()
