#!/usr/bin/env python3
"""Two python-socketio (5.x) clients against parley-server's relay, started with --token.

usage: python sio_relay_client.py URL TOKEN MODE
  URL    http://127.0.0.1:PORT
  TOKEN  the token to present
  MODE   auth (in the CONNECT auth payload {"token": TOKEN}) | query (as ?token=TOKEN)

Prints one line "RESULT <json>" with what the clients observed and exits 0 (1 on an exception).
A refused connection reports {"refused": <connect_error data>}. Every wait is bounded (10 s).
The test is RelaySocketIOTests.swift.
"""
import asyncio
import json
import sys

import socketio

URL, TOKEN, MODE = sys.argv[1], sys.argv[2], sys.argv[3]
WAIT = 10


def report(result):
    print("RESULT " + json.dumps(result), flush=True)


async def client():
    sio = socketio.AsyncClient(reconnection=False)
    received = asyncio.Queue()
    refusals = []

    @sio.on("*")
    async def any_event(event, *args):
        await received.put([event, list(args)])

    @sio.event
    async def connect_error(data):
        refusals.append(data)

    url = URL + ("?token=" + TOKEN if MODE == "query" else "")
    auth = {"token": TOKEN} if MODE == "auth" else None
    try:
        await sio.connect(url, auth=auth, transports=["websocket"], wait_timeout=WAIT)
    except socketio.exceptions.ConnectionError:
        return None, None, refusals
    return sio, received, refusals


async def main():
    a, a_events, refusals = await client()
    if a is None:
        report({"refused": refusals})
        return
    b, b_events, _ = await client()

    async def next_event(queue):
        return await asyncio.wait_for(queue.get(), WAIT)

    result = {}
    result["echo_ack"] = await a.call("echo", {"x": 1}, timeout=WAIT)
    await a.emit("echo", "hi")
    result["echo_event"] = await next_event(a_events)
    result["joins"] = [await a.call("join", "r", timeout=WAIT), await b.call("join", "r", timeout=WAIT)]
    result["room_ack"] = await a.call("room", {"room": "r", "text": "t"}, timeout=WAIT)
    result["room_event"] = await next_event(b_events)
    await a.emit("broadcast", "b")
    result["broadcast_event"] = await next_event(b_events)
    await a.emit("all", "x")
    result["all_events"] = [await next_event(a_events), await next_event(b_events)]
    result["leave"] = await b.call("leave", "r", timeout=WAIT)
    await a.call("room", {"room": "r", "text": "after leave"}, timeout=WAIT)
    await a.emit("all", "last")
    result["after_leave"] = await next_event(b_events)   # "all", not the room message
    report(result)
    await a.disconnect()
    await b.disconnect()


try:
    asyncio.run(main())
except Exception as error:  # report, so the test shows what went wrong
    print("ERROR " + repr(error), flush=True)
    sys.exit(1)
