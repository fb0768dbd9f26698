#!/usr/bin/env python3
"""Soak test of parley-server: many clients, broadcasts and connection churn for a bounded time,
with the server's resident memory and descriptors sampled, then checked back near the baseline.

usage: Benchmarks/scripts/soak.py [--clients N] [--duration S] [--churn K] [--interval S] [--server PATH]
  --clients N    clients connected at once (default 5000; needs `ulimit -n` above N + 100)
  --duration S   seconds of broadcasts and churn (default 120)
  --churn K      clients closed and replaced every second (default 200)
  --interval S   seconds between broadcasts (`all`, to every client; default 0.5)
  --settle S     most seconds to wait for memory and descriptors to come back (default 60)
  --server PATH  the parley-server binary (default .build-release/release/parley-server, else
                 .build/release, else .build/debug)

Loopback only: it starts its own parley-server on 127.0.0.1 (port 0) and connects from
127.0.0.2-127.0.0.65 (Linux routes all of 127/8 to lo), so that no client address reaches the
server's per-address handshake cap. Needs Linux (/proc) and Python 3.9+, nothing else. Not part
of CI: run it by hand after changes to buffering, connection handling or the allocator policy.

It prints a sample a few seconds apart (clients, RSS, descriptors), then one JSON line: the
baseline, the peak and the final RSS and descriptor counts, broadcasts sent, deliveries to the
clients connected throughout (every broadcast must reach each of them), connection cycles.
Exit status 1 when a check fails: descriptors not back to the baseline (+2), RSS not back within
max(32 MiB, 20 % of the rise) of the baseline, or a delivery missing.
"""
import argparse, asyncio, base64, json, os, random, re, resource, struct, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KEY = base64.b64encode(b"parley-soak-key!").decode()
SOURCES = [f"127.0.0.{i}" for i in range(2, 66)]


def server_binary(given):
    if given:
        return given
    for path in (".build-release/release", ".build/release", ".build/debug"):
        candidate = os.path.join(ROOT, path, "parley-server")
        if os.path.exists(candidate):
            return candidate
    raise SystemExit("no parley-server binary: swift build -c release --product parley-server")


def sample(pid):
    """(RSS in bytes, open descriptors) of `pid`."""
    with open(f"/proc/{pid}/status") as status:
        rss = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmRSS:"))
    return rss, len(os.listdir(f"/proc/{pid}/fd"))


def frame(text):
    """A masked client text frame."""
    payload = text.encode()
    mask = os.urandom(4)
    n = len(payload)
    header = bytes([0x81]) + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack(">H", n))
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


class Stats:
    def __init__(self):
        self.connected = 0
        self.cycles = 0
        self.failures = 0
        self.stable_deliveries = 0


async def client(port, source, stats, stable, ready=None):
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    try:
        writer.write((f"GET /parley HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      f"Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        head = await reader.readuntil(b"\r\n\r\n")
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise ConnectionError(head.split(b"\r\n", 1)[0].decode())
        stats.connected += 1
        connected = False
        while True:
            b0, b1 = await reader.readexactly(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", await reader.readexactly(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", await reader.readexactly(8))[0]
            payload = await reader.readexactly(n)
            opcode = b0 & 0x0F
            if opcode == 0x9:  # ping: pong with the same payload
                mask = os.urandom(4)
                writer.write(bytes([0x8A, 0x80 | n]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
            elif opcode == 0x8:
                return
            elif opcode == 0x1:
                if not connected and payload.startswith(b'{"event":"connect"'):
                    connected = True
                    if ready:
                        ready.set_result(writer)
                elif stable and payload.startswith(b'{"event":"all"'):
                    stats.stable_deliveries += 1
    finally:
        stats.connected -= 1
        writer.close()


async def soak(args, pid, port):
    stats = Stats()
    samples = []
    baseline = sample(pid)
    print(f"baseline: RSS {baseline[0] >> 20} MiB, {baseline[1]} descriptors", flush=True)
    semaphore = asyncio.Semaphore(64)
    tasks = {}

    async def start(index, stable):
        async with semaphore:
            ready = asyncio.get_running_loop().create_future()
            task = asyncio.create_task(client(port, SOURCES[index % len(SOURCES)], stats, stable, ready))
            task.add_done_callback(lambda t: t.exception() if not t.cancelled() else None)
            tasks[index] = task
            done, _ = await asyncio.wait([ready, task], timeout=30, return_when=asyncio.FIRST_COMPLETED)
            if ready not in done:
                stats.failures += 1

    # Half the clients stay connected throughout (their deliveries are counted); the rest churn.
    stable_count = args.clients // 2
    await asyncio.gather(*(start(i, i < stable_count) for i in range(args.clients)))
    print(f"connected: {stats.connected} clients ({stats.failures} failed)", flush=True)
    sender_ready = asyncio.get_running_loop().create_future()
    sender = asyncio.create_task(client(port, "127.0.0.1", Stats(), False, sender_ready))
    sender_writer = await sender_ready
    stats.stable_deliveries = 0
    broadcasts = 0
    next_index = args.clients
    begin = time.monotonic()
    last_churn = begin
    last_report = begin
    while time.monotonic() - begin < args.duration:
        sender_writer.write(frame(json.dumps({"event": "all", "data": broadcasts})))
        broadcasts += 1
        await asyncio.sleep(args.interval)
        now = time.monotonic()
        if now - last_churn >= 1:
            last_churn = now
            victims = random.sample([i for i in tasks if i >= stable_count], min(args.churn, len(tasks) - stable_count))
            for index in victims:
                tasks.pop(index).cancel()
            await asyncio.gather(*(start(next_index + k, False) for k in range(len(victims))))
            next_index += len(victims)
            stats.cycles += len(victims)
        if now - last_report >= 5:
            last_report = now
            rss, fds = sample(pid)
            samples.append((rss, fds))
            print(f"{int(now - begin):4d} s: {stats.connected} clients, RSS {rss >> 20} MiB, {fds} descriptors, "
                  f"{broadcasts} broadcasts, {stats.cycles} cycles", flush=True)
    await asyncio.sleep(2)  # the last broadcasts arrive
    delivered = stats.stable_deliveries
    expected = broadcasts * stable_count
    peak = max([sample(pid)] + samples, key=lambda s: s[0])
    for task in list(tasks.values()) + [sender]:
        task.cancel()
    await asyncio.gather(*tasks.values(), sender, return_exceptions=True)

    # Back near the baseline: every descriptor closed, memory given back (the server trims after
    # a large drop in clients, sampled every 5 s).
    settle_start = time.monotonic()
    rss_bound = baseline[0] + max(32 << 20, (peak[0] - baseline[0]) // 5)
    while True:
        final = sample(pid)
        if (final[1] <= baseline[1] + 2 and final[0] <= rss_bound) or time.monotonic() - settle_start > args.settle:
            break
        await asyncio.sleep(1)
    settled = time.monotonic() - settle_start
    result = {
        "clients": args.clients, "duration_s": args.duration, "broadcasts": broadcasts,
        "stable_clients": stable_count, "stable_deliveries": delivered, "expected_deliveries": expected,
        "connection_cycles": stats.cycles, "connect_failures": stats.failures,
        "rss_mib": {"baseline": baseline[0] >> 20, "peak": peak[0] >> 20, "final": final[0] >> 20},
        "descriptors": {"baseline": baseline[1], "peak": max(s[1] for s in samples + [peak]), "final": final[1]},
        "settled_s": round(settled, 1),
    }
    print("RESULT " + json.dumps(result), flush=True)
    ok = final[1] <= baseline[1] + 2 and final[0] <= rss_bound and delivered == expected and stats.failures == 0
    return ok


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=5000)
    parser.add_argument("--duration", type=float, default=120)
    parser.add_argument("--churn", type=int, default=200)
    parser.add_argument("--interval", type=float, default=0.5)
    parser.add_argument("--settle", type=float, default=60)
    parser.add_argument("--server")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < args.clients + 100:
        raise SystemExit(f"ulimit -n hard limit {hard} is below {args.clients + 100}: use fewer --clients")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    server = subprocess.Popen([server_binary(args.server), "--port", "0", "--max-clients", str(args.clients * 2),
                               "--max-handshakes-per-address", str(args.clients * 2)],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = server.stdout.readline()
        match = re.search(r":(\d+)/", line)
        if not match:
            raise SystemExit(f"parley-server did not start: {line!r}")
        ok = asyncio.run(soak(args, server.pid, int(match.group(1))))
    finally:
        server.terminate()
        server.wait(timeout=10)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
