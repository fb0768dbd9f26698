"""Python `websockets` over TLS (`ssl`), the peer nobody here wrote, for ParleyClient's tests.

    python ws_tls_peer.py server CERT KEY
        A Parley envelope peer on wss://127.0.0.1:PORT (PORT printed first): sends `connect`,
        answers an event with an id with an ack of its data, echoes other events. Stops when
        stdin closes.
    python ws_tls_peer.py client URL CA
        Connects to a Parley server at URL trusting CA: awaits `connect`, emits `echo` with an
        id, then prints `RESULT {"connect": id, "ack": data, "tls": version}`, or `ERROR ...`.
"""
import asyncio
import json
import ssl
import sys

import websockets


async def serve(cert, key):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    count = 0

    async def handler(socket):
        nonlocal count
        count += 1
        await socket.send(json.dumps({"event": "connect", "data": {"id": f"python-{count}", "pingInterval": 25000, "pingTimeout": 20000}}))
        async for message in socket:
            try:
                envelope = json.loads(message)
            except ValueError:
                continue
            if not isinstance(envelope.get("event"), str):
                continue
            if "id" in envelope:
                await socket.send(json.dumps({"ack": envelope["id"], "data": envelope.get("data")}))
            else:
                await socket.send(json.dumps({"event": envelope["event"], "data": envelope.get("data")}))

    async with websockets.serve(handler, "127.0.0.1", 0, ssl=context, max_size=4 << 20) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        print(port, flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


async def connect(url, ca):
    context = ssl.create_default_context(cafile=ca)
    try:
        async with websockets.connect(url, ssl=context) as socket:
            hello = json.loads(await asyncio.wait_for(socket.recv(), 10))
            assert hello.get("event") == "connect", hello
            await socket.send(json.dumps({"event": "echo", "data": {"from": "python"}, "id": 1}))
            while True:
                answer = json.loads(await asyncio.wait_for(socket.recv(), 10))
                if answer.get("ack") == 1:
                    break
            version = socket.transport.get_extra_info("ssl_object").version()
            print("RESULT " + json.dumps({"connect": hello["data"]["id"], "ack": answer.get("data"), "tls": version}), flush=True)
    except Exception as error:  # the test prints the reason
        print(f"ERROR {type(error).__name__}: {error}", flush=True)


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "server":
        asyncio.run(serve(sys.argv[2], sys.argv[3]))
    else:
        asyncio.run(connect(sys.argv[2], sys.argv[3]))
