// A Parley envelope peer over wss:// on Node's https server and the `ws` package (Debian's
// node-ws): the TLS and WebSocket of a server nobody here wrote, for ParleyClient's tests.
//   node ws_tls_echo.js CERT.pem KEY.pem
// Listens on 127.0.0.1, a free port, and prints it; sends `connect` to each client, answers an
// event that has an id with an ack of its data, and echoes any other event. Exits when stdin closes.
'use strict';
let ws;
try { ws = require('ws'); } catch (e) { ws = require('/usr/share/nodejs/ws'); }
const fs = require('fs');
const [cert, key] = process.argv.slice(2);
const server = require('https').createServer({ cert: fs.readFileSync(cert), key: fs.readFileSync(key) });
const wss = new ws.WebSocketServer({ server, maxPayload: 4 << 20 });
let count = 0;
wss.on('connection', (socket) => {
  count += 1;
  socket.send(JSON.stringify({ event: 'connect', data: { id: 'node-ws-' + count, pingInterval: 25000, pingTimeout: 20000 } }));
  socket.on('message', (data) => {
    let envelope;
    try { envelope = JSON.parse(data.toString()); } catch (e) { return; }
    if (typeof envelope.event !== 'string') return;
    if (envelope.id !== undefined) {
      socket.send(JSON.stringify({ ack: envelope.id, data: envelope.data }));
    } else {
      socket.send(JSON.stringify({ event: envelope.event, data: envelope.data }));
    }
  });
  socket.on('error', () => {});
});
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
