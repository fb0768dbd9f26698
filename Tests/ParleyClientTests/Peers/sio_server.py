#!/usr/bin/env python3
"""A python-socketio (5.x) AsyncServer on aiohttp that ParleyClient's Socket.IO tests connect to.

usage: python sio_server.py PORT
  PORT  TCP port on 127.0.0.1 (0: any free one)

Prints "READY <port>" once listening, then a line per thing the tests await:
  CONNECT <namespace> <auth as JSON>
  DISCONNECT <namespace> <reason>
  RECEIVED <event> <arguments as a JSON array>   (binary arguments as {"bytes": n})
Runs until killed. Pings every second with a 1 s timeout (whole seconds: python-engineio
announces the interval truncated to seconds), so that a client that does not answer pings is
dropped within two seconds. The tests are SocketIOServerTests.swift.

Namespace "/": a "token" of "bad" in the auth payload is refused with ("unauthorized",
{"reason": "bad token"}); events:
  echo *args          emitted back as "echo" with the same arguments
  call *args          acknowledged with the same arguments
  ask event *args     the server emits `event` with `args` asking for an ack, prints
                      "ANSWERED <event> <arguments>" and emits "answer" with them
  give n              emits "given" with n (0-3) arguments: 1, "two", {"three": 3}
  bin data            acknowledged with the same bytes, then emits "bin" with them reversed
  whoami              acknowledged with the sid
  kick                the server disconnects the client
  late seconds        acknowledged with "late" after that many seconds
Namespace "/admin": refused with ("admins only", {"role": <role given>}) unless the auth payload
has "role": "admin"; whoami is acknowledged with "admin:" + sid.
Any other namespace is unknown (CONNECT_ERROR "Invalid namespace").
"""
import asyncio
import json
import sys

import socketio
from aiohttp import web

PORT = int(sys.argv[1])
sio = socketio.AsyncServer(async_mode="aiohttp", ping_interval=1, ping_timeout=1, logger=False, engineio_logger=False)
app = web.Application()
sio.attach(app)


def say(*words):
    print(" ".join(words), flush=True)


def shown(args):
    return json.dumps([{"bytes": len(a)} if isinstance(a, (bytes, bytearray)) else a for a in args], sort_keys=True)


@sio.on("connect")
async def connect(sid, environ, auth):
    say("CONNECT", "/", json.dumps(auth, sort_keys=True))
    if isinstance(auth, dict) and auth.get("token") == "bad":
        raise socketio.exceptions.ConnectionRefusedError("unauthorized", {"reason": "bad token"})


@sio.on("disconnect")
async def disconnect(sid, reason=None):
    say("DISCONNECT", "/", str(reason))


@sio.on("*")
async def any_event(event, sid, *args):
    say("RECEIVED", event, shown(args))


@sio.on("echo")
async def echo(sid, *args):
    say("RECEIVED", "echo", shown(args))
    await sio.emit("echo", args if args else None, to=sid)


@sio.on("call")
async def call(sid, *args):
    say("RECEIVED", "call", shown(args))
    return args


@sio.on("ask")
async def ask(sid, event, *args):
    say("RECEIVED", "ask", shown((event,) + args))
    answered = asyncio.get_running_loop().create_future()

    def callback(*answer):
        if not answered.done():
            answered.set_result(answer)

    await sio.emit(event, args if args else None, to=sid, callback=callback)
    answer = await asyncio.wait_for(answered, 10)
    say("ANSWERED", event, shown(answer))
    await sio.emit("answer", answer if answer else None, to=sid)


@sio.on("give")
async def give(sid, count):
    values = (1, "two", {"three": 3})[:count]
    await sio.emit("given", values if values else None, to=sid)


@sio.on("bin")
async def binary(sid, data):
    say("RECEIVED", "bin", shown((data,)))
    await sio.emit("bin", bytes(reversed(data)), to=sid)
    return data


@sio.on("whoami")
async def whoami(sid):
    return sid


@sio.on("kick")
async def kick(sid):
    await sio.disconnect(sid)


@sio.on("late")
async def late(sid, seconds):
    await asyncio.sleep(seconds)
    return "late"


@sio.on("connect", namespace="/admin")
async def admin_connect(sid, environ, auth):
    say("CONNECT", "/admin", json.dumps(auth, sort_keys=True))
    role = auth.get("role") if isinstance(auth, dict) else None
    if role != "admin":
        raise socketio.exceptions.ConnectionRefusedError("admins only", {"role": role})


@sio.on("whoami", namespace="/admin")
async def admin_whoami(sid):
    return "admin:" + sid


async def main():
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", PORT)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    say("READY", str(port))
    await asyncio.Event().wait()   # until the process is killed


try:
    asyncio.run(main())
except Exception as error:  # report, so the test shows what went wrong
    print("ERROR " + repr(error), flush=True)
    sys.exit(1)
