#!/usr/bin/env python3
"""Fixed-count WebSocket echo load for instruction counts (profile-echo.sh): CONNS connections, ROUNDS rounds;
each round sends WINDOW messages on every connection, then reads every reply. Closes cleanly.
usage: echo-fixed.py PORT CONNS ROUNDS WINDOW raw|envelope|socketio [CA]
socketio: Engine.IO v4 over the WebSocket transport, joins "/", echoes 42["echo",{...}] and
answers the server's pings (slow runs under valgrind outlive a ping interval).
With CA (a PEM file), connects over TLS (wss://localhost, the certificate verified against CA)."""
import base64, os, select, socket, ssl, struct, sys, time

def frame(payload, opcode=1):
    mask = os.urandom(4)
    n = len(payload)
    head = bytes([0x80 | opcode])
    if n < 126: head += bytes([0x80 | n])
    else: head += bytes([0x80 | 126]) + struct.pack('!H', n)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))

def receive(s):
    """What the socket has now; for TLS also the records decrypted but not yet returned."""
    data = s.recv(65536)
    while isinstance(s, ssl.SSLSocket) and s.pending():
        data += s.recv(65536)
    return data

def main():
    port, conns, rounds, window, dialect = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    path = '/socket.io/?EIO=4&transport=websocket' if dialect == 'socketio' else '/'
    tls = None
    if len(sys.argv) > 6:
        tls = ssl.create_default_context(cafile=sys.argv[6])
    socks = []
    for _ in range(conns):
        s = socket.create_connection(('127.0.0.1', port))
        if tls: s = tls.wrap_socket(s, server_hostname='localhost')
        key = base64.b64encode(os.urandom(16)).decode()
        s.sendall(f'GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n'.encode())
        buf = b''
        while b'\r\n\r\n' not in buf: buf += s.recv(4096)
        head, rest = buf.split(b'\r\n\r\n', 1)
        assert b' 101 ' in head.split(b'\r\n')[0], head
        s.setblocking(False)
        socks.append([s, rest])
    def frames_in(entry):
        out = []
        buf = entry[1]
        while len(buf) >= 2:
            n = buf[1] & 0x7F; h = 2
            if n == 126:
                if len(buf) < 4: break
                n = struct.unpack('!H', buf[2:4])[0]; h = 4
            if len(buf) < h + n: break
            out.append((buf[0] & 0x0F, buf[h:h+n])); buf = buf[h+n:]
        entry[1] = buf
        return out
    if dialect == 'envelope':
        # wait for the connect event on each
        for e in socks:
            got = False
            while not got:
                select.select([e[0]], [], [], 5)
                try: e[1] += receive(e[0])
                except (BlockingIOError, ssl.SSLWantReadError): continue
                got = any(op == 1 for op, _ in frames_in(e))
        msg = b'{"event":"echo","data":{"pad":"' + b'x' * 28 + b'"}}'
    elif dialect == 'socketio':
        # the open packet (0{...}), then CONNECT to "/" and its answer (40{...})
        for e in socks:
            for expected, reply in ((b'0', b'40'), (b'40', None)):
                got = False
                while not got:
                    select.select([e[0]], [], [], 5)
                    try: e[1] += receive(e[0])
                    except (BlockingIOError, ssl.SSLWantReadError): continue
                    got = any(op == 1 and p.startswith(expected) for op, p in frames_in(e))
                if reply: e[0].sendall(frame(reply))
        msg = b'42["echo",{"pad":"' + b'x' * 30 + b'"}]'
    else:
        msg = b'x' * 64
    data = frame(msg) * window
    fdmap = {e[0].fileno(): e for e in socks}
    total = 0
    for _ in range(rounds):
        for e in socks: e[0].sendall(data)
        owed = {e[0].fileno(): window for e in socks}
        while owed:
            r, _, _ = select.select([fdmap[f][0] for f in owed], [], [], 10)
            assert r, 'timeout'
            for s in r:
                e = fdmap[s.fileno()]
                try: e[1] += receive(s)
                except (BlockingIOError, ssl.SSLWantReadError): continue
                for op, p in frames_in(e):
                    if dialect == 'socketio' and p == b'2':
                        s.sendall(frame(b'3'))   # Engine.IO ping: pong, not counted
                    elif op in (1, 2):
                        owed[s.fileno()] -= 1; total += 1
                if owed[s.fileno()] == 0: del owed[s.fileno()]
    for e in socks:
        e[0].setblocking(True)
        e[0].sendall(frame(struct.pack('!H', 1000), 8))
    for e in socks:
        e[0].settimeout(5)
        try:
            while e[0].recv(65536): pass
        except Exception: pass
        try:
            if tls: e[0].unwrap()
        except Exception: pass
        e[0].close()
    print(f'messages {total}')

main()
