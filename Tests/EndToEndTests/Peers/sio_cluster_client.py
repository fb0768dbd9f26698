#!/usr/bin/env python3
"""python-socketio (5.x) clients on two parley-server nodes sharing broadcasts through Redis.

usage: python sio_cluster_client.py URL_A URL_B
  URL_A, URL_B  http://127.0.0.1:PORT of each node

Client a (node A) sends "broadcast" with three arguments until client b (node B) receives one
(the nodes subscribe to Redis as they start: the first ones may go before B listens); then b
sends "all" with two arguments, which a (through Redis) and b (on its own node) receive.
Prints one line "RESULT <json>" with the argument lists received and exits 0 (1 on an
exception). Every wait is bounded (10 s). The test is RelayClusterSocketIOTests.swift.
"""
import asyncio
import json
import sys

import socketio

URL_A, URL_B = sys.argv[1], sys.argv[2]
WAIT = 10


def report(result):
    print("RESULT " + json.dumps(result), flush=True)


async def client(url):
    sio = socketio.AsyncClient(reconnection=False)
    received = asyncio.Queue()

    @sio.on("*")
    async def any_event(event, *args):
        await received.put([event, list(args)])

    await sio.connect(url, transports=["websocket"], wait_timeout=WAIT)
    return sio, received


async def main():
    a, a_events = await client(URL_A)
    b, b_events = await client(URL_B)
    result = {}
    deadline = asyncio.get_running_loop().time() + WAIT
    attempt = 0
    while "remote_broadcast" not in result:
        attempt += 1
        await a.emit("broadcast", (attempt, "two", {"three": 3}))
        try:
            result["remote_broadcast"] = await asyncio.wait_for(b_events.get(), 0.2)
        except asyncio.TimeoutError:
            if asyncio.get_running_loop().time() > deadline:
                raise
    result["attempt"] = attempt
    # Copies of earlier attempts that were still on their way.
    while True:
        try:
            await asyncio.wait_for(b_events.get(), 0.3)
        except asyncio.TimeoutError:
            break
    await b.emit("all", ("x", [1, 2]))
    result["remote_all"] = await asyncio.wait_for(a_events.get(), WAIT)
    result["local_all"] = await asyncio.wait_for(b_events.get(), WAIT)
    report(result)
    await a.disconnect()
    await b.disconnect()


try:
    asyncio.run(main())
except Exception as error:  # reported, then a non-zero exit
    report({"error": repr(error)})
    sys.exit(1)
