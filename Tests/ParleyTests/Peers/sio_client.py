#!/usr/bin/env python3
"""A python-socketio (5.x) client that drives one scenario against a Parley server.

usage: python sio_client.py URL SCENARIO [TRANSPORTS [CA]]
  URL         http://127.0.0.1:PORT, or https://127.0.0.1:PORT with CA
  SCENARIO    connect | refused | events | acks | binary | namespaces | room | kicked |
              restart (READY, then the test restarts the server: the client must reconnect) |
              upgrade-refused (the WebSocket upgrade carries an Origin the server refuses)
  TRANSPORTS  "default" (polling, then upgrade) or "websocket"
  CA          a PEM file: polling over https and the WebSocket over wss trust it (and verify
              the certificate's name)

Prints "READY" when a scenario waits for the test, then one line "RESULT <json>" with what it
observed, and exits 0 (1 on an exception). Every wait is bounded (10 s), so a broken server
makes the scenario fail, never hang. The server side is SocketIOPeerTests.swift.
"""
import asyncio
import json
import sys

import socketio

URL, SCENARIO = sys.argv[1], sys.argv[2]
TRANSPORTS = None if len(sys.argv) < 4 or sys.argv[3] == "default" else sys.argv[3].split(",")
CA = sys.argv[4] if len(sys.argv) > 4 else None
WAIT = 10


def report(result):
    print("RESULT " + json.dumps(result), flush=True)


async def upgraded(sio):
    """The transport in use once an upgrade had time to finish (polling clients upgrade at once)."""
    for _ in range(100 if TRANSPORTS is None else 0):
        if sio.transport() == "websocket":
            break
        await asyncio.sleep(0.05)
    return sio.transport()


async def main():
    options = {}
    if SCENARIO == "upgrade-refused":
        # Only the upgrade's request carries it: polling requests have no Origin, as from a script.
        options["websocket_extra_options"] = {"headers": {"Origin": "http://elsewhere.example"}}
    if CA:
        # One HTTP session for the polling requests and the WebSocket upgrade, trusting CA only.
        import aiohttp
        import ssl
        options["http_session"] = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=ssl.create_default_context(cafile=CA)))
    sio = socketio.AsyncClient(reconnection=SCENARIO == "restart", reconnection_delay=0.1, reconnection_delay_max=0.5,
                               **options)
    connects = asyncio.Queue()

    @sio.event
    async def connect():
        await connects.put(sio.get_sid("/"))
    received = asyncio.Queue()

    @sio.on("*")
    async def any_event(event, *args):
        await received.put([event, list(args)])

    @sio.on("question")
    async def question(text):
        return "pong:" + text

    disconnects = []

    @sio.event
    async def disconnect(reason=None):
        disconnects.append(str(reason))

    async def next_event():
        return await asyncio.wait_for(received.get(), WAIT)

    if SCENARIO == "refused":
        refusals = []

        @sio.event
        async def connect_error(data):
            refusals.append(data)

        try:
            await sio.connect(URL, auth={"token": "bad"}, transports=TRANSPORTS, wait_timeout=WAIT)
            report({"connected": True})
        except socketio.exceptions.ConnectionError:
            report({"connected": False, "refusals": refusals})
        return

    namespaces = ["/", "/admin"] if SCENARIO == "namespaces" else ["/"]
    await sio.connect(URL, auth={"token": "good"}, transports=TRANSPORTS, namespaces=namespaces, wait_timeout=WAIT)
    # A refused upgrade fails inside connect(): the transport is settled already.
    transport = sio.transport() if SCENARIO == "upgrade-refused" else await upgraded(sio)

    if SCENARIO == "connect":
        whoami = await sio.call("whoami", timeout=WAIT)
        report({"transport": transport, "sid": sio.get_sid("/"), "whoami": whoami})
    elif SCENARIO == "events":
        acks = []
        for args in [(), (1,), (1, "two"), (1, "two", {"three": 3})]:
            acks.append(await sio.call("args", args if len(args) != 1 else args[0], timeout=WAIT))
        given = []
        for n in range(4):
            await sio.emit("give", n)
            given.append(await next_event())
        report({"transport": transport, "acks": acks, "given": given})
    elif SCENARIO == "acks":
        sum_ack = await sio.call("add", (2, 3), timeout=WAIT)
        await sio.emit("ask", "ping")
        answer = await next_event()
        report({"sum": sum_ack, "answer": answer})
    elif SCENARIO == "binary":
        payload = bytes(range(256)) * 4
        acked = await sio.call("bin", payload, timeout=WAIT)
        event = await next_event()
        report({"acked": acked == payload, "event": event[0], "echoed": event[1][0] == payload[::-1],
                "types": [type(acked).__name__, type(event[1][0]).__name__]})
    elif SCENARIO == "namespaces":
        main_id = await sio.call("whoami", timeout=WAIT)
        admin_id = await sio.call("whoami", namespace="/admin", timeout=WAIT)
        report({"transport": transport, "main": main_id, "admin": admin_id,
                "sids": [sio.get_sid("/"), sio.get_sid("/admin")]})
    elif SCENARIO == "room":
        await sio.call("join", "r", timeout=WAIT)
        print("READY", flush=True)
        from_envelope = await next_event()
        await sio.emit("room", {"from": "socket.io"})
        await sio.call("whoami", timeout=WAIT)   # handled after "room": the emit has gone out
        report({"received": from_envelope})
    elif SCENARIO == "upgrade-refused":
        whoami = await sio.call("whoami", timeout=WAIT)
        total = await sio.call("add", (2, 3), timeout=WAIT)
        report({"transport": sio.transport(), "sid": sio.get_sid("/"), "whoami": whoami, "sum": total})
    elif SCENARIO == "restart":
        first = await asyncio.wait_for(connects.get(), WAIT)
        print("READY", flush=True)
        second = await asyncio.wait_for(connects.get(), 20)
        whoami = await sio.call("whoami", timeout=WAIT)
        report({"first": first, "second": second, "whoami": whoami, "disconnects": disconnects})
    elif SCENARIO == "kicked":
        await sio.emit("kick")
        for _ in range(200):
            if disconnects:
                break
            await asyncio.sleep(0.05)
        report({"disconnects": disconnects, "connected": sio.connected})
        return
    await sio.disconnect()
    if CA:
        await options["http_session"].close()


try:
    asyncio.run(main())
except Exception as error:  # report, so the test shows what went wrong
    print("ERROR " + repr(error), flush=True)
    sys.exit(1)
