#!/usr/bin/env python3
"""A python-socketio (5.x) client that makes a number of acknowledged calls, so that a test can
count the TCP connections it opened for them (through a counting proxy).

usage: python sio_calls.py URL CLIENT TRANSPORTS CALLS
  URL         http://127.0.0.1:PORT
  CLIENT      "async" (AsyncClient: aiohttp for polling and WebSocket) or "sync" (Client:
              a requests session for polling, websocket-client for the WebSocket)
  TRANSPORTS  "default" (polling, then upgrade) or "polling"
  CALLS       how many "whoami" calls to make, one after the other

Prints one line "RESULT <json>" ({"transport", "answers", "sid"}) and exits 0 (1 on an
exception, after an "ERROR" line). Every wait is bounded (10 s). The server side is
SocketIOKeepAliveTests.swift.
"""
import asyncio
import json
import sys
import time

import socketio

URL, CLIENT, TRANSPORTS_ARGUMENT, CALLS = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
TRANSPORTS = None if TRANSPORTS_ARGUMENT == "default" else TRANSPORTS_ARGUMENT.split(",")
WAIT = 10


def report(result):
    print("RESULT " + json.dumps(result), flush=True)


async def run_async():
    sio = socketio.AsyncClient(reconnection=False)
    await sio.connect(URL, transports=TRANSPORTS, wait_timeout=WAIT)
    for _ in range(100 if TRANSPORTS is None else 0):   # a default client upgrades at once
        if sio.transport() == "websocket":
            break
        await asyncio.sleep(0.05)
    answers = [await sio.call("whoami", timeout=WAIT) for _ in range(CALLS)]
    report({"transport": sio.transport(), "answers": len(set(answers)), "sid": sio.get_sid("/"), "first": answers[0]})
    await sio.disconnect()


def run_sync():
    sio = socketio.Client(reconnection=False)
    sio.connect(URL, transports=TRANSPORTS, wait_timeout=WAIT)
    for _ in range(100 if TRANSPORTS is None else 0):
        if sio.transport() == "websocket":
            break
        time.sleep(0.05)
    answers = [sio.call("whoami", timeout=WAIT) for _ in range(CALLS)]
    report({"transport": sio.transport(), "answers": len(set(answers)), "sid": sio.get_sid("/"), "first": answers[0]})
    sio.disconnect()


try:
    if CLIENT == "sync":
        run_sync()
    else:
        asyncio.run(run_async())
except Exception as error:  # report, so the test shows what went wrong
    print("ERROR " + repr(error), flush=True)
    sys.exit(1)
