#!/usr/bin/env python3
"""Side-by-side benchmarks of parley-server against peers, with ../shared/tools/wsload.

usage: Benchmarks/scripts/bench.py [--record] SUITE [ROUNDS] [TESTS]
  SUITE   raw       parley-server --raw-echo vs Node ws (ws_raw.js)
          envelope  parley-server relay (path /) vs Node ws envelope peer (ws_envelope.js)
                    and python-socketio (sio_server.py, echo tests only)
                    In raw and envelope, "parley" is parley-server with its default loops (one
                    per core) and "parley-1" the same binary with --loops 1: the peers run one
                    thread, and on a machine whose cores the load generator shares, the second
                    loop competes with it (the figures per core are parley-1's)
          floor     parley-server --raw-echo (default loops and --loops 1) vs floor-echo (the least
                    a WebSocket echo server can do: Benchmarks/floor/floor-echo.c, C, one epoll
                    thread, built here with cc) vs Node ws: how far Parley is from the floor the
                    kernel sets. Printed only (not recorded)
          recovery  parley-server relay (path /) without and with --recovery (connection state
                    recovery: every broadcast numbered and kept); prints recovery/off
          socketio  parley-server's Socket.IO endpoint (/socket.io/, "parley-sio"; with --loops 1,
                    "parley-sio-1") vs the same server's envelope (path /, "parley") vs
                    python-socketio (sio_server.py); the ratios to read are parley-sio/sio,
                    parley-sio-1/sio and parley-sio/parley
  ROUNDS  rounds (default 5); servers alternate, a fresh process for every run
  TESTS   comma list of echo100, echo10x16, bcast, connect, kept (default: all of the suite)
          kept: one client sends KEPT_EVENTS (10,000, the default maxPackets) broadcasts of
          40 bytes of data, then an acked echo; the server's RSS growth from its connect to that
          ack is measured (/proc/PID/status VmRSS). (growth with recovery - growth without) /
          KEPT_EVENTS is the memory per kept event.
Needs: swift build -c release --scratch-path .build-release --product parley-server;
       wsload in $PARLEY_TOOLS_HOME/bin; node + node-ws; for envelope and socketio, peers/setup.sh
       (python venv; PARLEY_PYTHON names another python with python-socketio and aiohttp).
Ports: from PARLEY_BENCH_PORT (default 9450) up, one fresh port per run.
Prints one line per run, then a table of medians and ratios. With --record, also writes the
medians, runs and latency percentiles into Benchmarks/results/results.json (the section of the
suite, the scenarios measured), for Benchmarks/scripts/charts.sh to draw.
"""
import datetime, json, os, socket, statistics, subprocess, sys, time

# The repository root: this file is Benchmarks/scripts/NAME.
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The peers (Node ws, python-socketio) live outside the repository (Benchmarks/README.md).
TOOLS = os.environ.get("PARLEY_SHARED_TOOLS", os.path.join(os.path.dirname(ROOT), "shared", "tools"))
HOME = os.environ.get("PARLEY_TOOLS_HOME", os.path.expanduser("~/.cache/parley-tools"))
WSLOAD = os.path.join(HOME, "bin", "wsload")
PARLEY = os.path.join(ROOT, ".build-release", "release", "parley-server")
PYTHON = os.environ.get("PARLEY_PYTHON", os.path.join(HOME, "py", "bin", "python"))
FLOOR_SOURCE = os.path.join(ROOT, "Benchmarks", "floor", "floor-echo.c")
FLOOR = os.path.join(ROOT, ".build-release", "floor-echo")

TESTS = {
    "echo100": (["--mode", "echo", "--conns", "100", "--window", "1", "--duration", "5"], "msgs_per_s"),
    "echo10x16": (["--mode", "echo", "--conns", "10", "--window", "16", "--duration", "5"], "msgs_per_s"),
    "bcast": (["--mode", "broadcast", "--conns", "1000", "--senders", "1", "--duration", "5"], "deliveries_per_s"),
    "connect": (["--mode", "connect", "--conns", "10000", "--concurrency", "256", "--hold", "3"], "handshakes_per_s"),
    "kept": ([], "rss_growth"),
}

# The `kept` test: events sent, and their data (40 bytes).
KEPT_EVENTS = 10_000
KEPT_DATA = '"' + "x" * 38 + '"'

SUITES = {
    "raw": {"servers": ["parley", "parley-1", "ws"], "tests": ["echo100", "echo10x16", "connect"], "sio_tests": []},
    "envelope": {"servers": ["parley", "parley-1", "ws", "sio"], "tests": ["echo100", "echo10x16", "bcast", "connect"],
                 "sio_tests": ["echo100", "echo10x16"]},
    "floor": {"servers": ["parley-1", "parley", "floor", "ws"], "tests": ["echo100", "echo10x16"], "sio_tests": []},
    "recovery": {"servers": ["parley", "recovery"], "tests": ["bcast", "echo100", "kept"], "sio_tests": []},
    # One parley-server serves both dialects: "parley-sio" is its Socket.IO endpoint.
    "socketio": {"servers": ["parley-sio", "parley-sio-1", "parley", "sio"], "tests": ["echo100", "bcast", "connect"],
                 "sio_tests": ["echo100", "echo10x16", "bcast"]},
}

# The load generator opens up to 256 handshakes at once from one address: parley-server's cap
# of 32 per address (503 beyond) is raised for it, as it would be for clients behind one NAT.
PARLEY_LIMITS = ["--max-handshakes-per-address", "1000"]

def command(suite, server, port):
    if server in ("parley", "parley-sio", "parley-1", "parley-sio-1"):
        mode = ["--raw-echo"] if suite in ("raw", "floor") else ["--path", "/"]
        loops = ["--loops", "1"] if server.endswith("-1") else []
        return [PARLEY, "--port", str(port)] + mode + loops + PARLEY_LIMITS
    if server == "recovery":
        return [PARLEY, "--port", str(port), "--path", "/", "--recovery"] + PARLEY_LIMITS
    if server == "floor":
        return [FLOOR, str(port), "300"]
    if server == "ws":
        script = "ws_raw.js" if suite in ("raw", "floor") else "ws_envelope.js"
        return ["node", os.path.join(TOOLS, "peers", script), str(port), "300"]
    return [PYTHON, os.path.join(TOOLS, "peers", "sio_server.py"), str(port), "300"]

def dialect(suite, server):
    if suite in ("raw", "floor"):
        return ["--dialect", "raw"]
    return ["--dialect", "socketio"] if server in ("sio", "parley-sio", "parley-sio-1") else ["--dialect", "envelope"]

def rss(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0

def kept(port, pid):
    """The `kept` test: RSS growth of the server while it relays KEPT_EVENTS broadcasts of one
    client (a minimal RFC 6455 client: masked text frames out, unmasked frames in)."""
    import base64, socket, struct
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    buffer = b""
    while b"\r\n\r\n" not in buffer:
        buffer += sock.recv(4096)
    buffer = buffer.split(b"\r\n\r\n", 1)[1]
    def frame(text):
        payload, mask = text.encode(), os.urandom(4)
        header = bytes([0x81]) + (bytes([0x80 | len(payload)]) if len(payload) < 126 else bytes([0xFE]) + struct.pack("!H", len(payload)))
        return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    def messages():
        nonlocal buffer
        while True:
            while len(buffer) >= 2:
                length, start = buffer[1] & 0x7F, 2
                if length == 126: length, start = struct.unpack("!H", buffer[2:4])[0], 4
                elif length == 127: length, start = struct.unpack("!Q", buffer[2:10])[0], 10
                if len(buffer) < start + length: break
                message, buffer = buffer[start:start + length], buffer[start + length:]
                yield message
            chunk = sock.recv(65536)
            if not chunk: return
            buffer += chunk
    incoming = messages()
    next(incoming)  # connect
    before = rss(pid)
    event = frame('{"event":"broadcast","data":' + KEPT_DATA + '}')
    for start in range(0, KEPT_EVENTS, 500):
        sock.sendall(event * min(500, KEPT_EVENTS - start))
    sock.sendall(frame('{"event":"echo","data":1,"id":1}'))
    for message in incoming:
        if message.startswith(b'{"ack":1'): break
    growth = rss(pid) - before
    sock.close()
    return {"rss_growth": growth}

def run(suite, server, test, port):
    proc = subprocess.Popen(command(suite, server, port), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    line = proc.stdout.readline()  # every server prints one line once listening
    if not line:
        raise SystemExit(f"{server} did not start")
    # sio_server.py prints its line before aiohttp binds: wait until the port answers.
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    else:
        proc.kill()
        raise SystemExit(f"{server} did not start: {line.strip()}")
    try:
        if test == "kept":
            return kept(port, proc.pid)
        args, key = TESTS[test]
        out = subprocess.run([WSLOAD, "--port", str(port), "--quiet", "--server-pid", str(proc.pid)]
                             + dialect(suite, server) + args, capture_output=True, text=True, timeout=200).stdout
        result = json.loads([l for l in out.splitlines() if l.startswith("RESULT ")][-1][7:])
        return result
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # python-socketio closing 10,000 connections
            proc.kill()
            proc.wait(timeout=10)

RESULTS = os.environ.get("PARLEY_BENCH_RESULTS", os.path.join(ROOT, "Benchmarks", "results", "results.json"))
NAMES = {"parley": "Parley", "parley-sio": "Parley (Socket.IO)", "ws": "Node ws", "sio": "python-socketio",
         "parley-1": "Parley, one loop", "parley-sio-1": "Parley (Socket.IO), one loop",
         "recovery": "Parley with recovery", "floor": "floor-echo (C)"}
TITLES = {
    "echo100": ("echo, 100 connections, window 1", "msg/s"),
    "echo10x16": ("echo, 10 connections, window 16", "msg/s"),
    "bcast": ("broadcast to 1,000 receivers", "deliveries/s"),
    "connect": ("10,000 handshakes, concurrency 256", "handshakes/s"),
    "kept": ("RSS growth relaying 10,000 broadcasts", "bytes"),
}

SECTION_TITLES = {"socketio": "Socket.IO: the same server's /socket.io/ against its envelope and python-socketio"}

def record(suite, rounds, rows, loads):
    """Writes this invocation's figures into results.json (Benchmarks/results/README.md)."""
    with open(RESULTS) as file:
        results = json.load(file)
    section = next((s for s in results["sections"] if s["id"] == suite), None)
    if section is None:  # a suite recorded for the first time gets a section (and a chart) of its own
        section = {"id": suite, "title": SECTION_TITLES.get(suite, suite), "scenarios": []}
        results["sections"].append(section)
    # When and how, on each scenario written: the section's other scenarios keep their own.
    run = {"measured": datetime.date.today().isoformat(),
           "command": "Benchmarks/scripts/bench.py " + " ".join(sys.argv[1:]),
           "conditions": (f"{os.cpu_count()} cores, load average {min(loads):.1f}-{max(loads):.1f}; "
                          f"medians of {rounds} alternating runs")}
    # An invocation that measured every test of the suite dates the whole section; a partial one
    # dates only the scenarios it wrote.
    whole = {test for test, *_ in rows} >= set(SUITES[suite]["tests"]) or "measured" not in section
    if whole:
        section.update(run)
    def put(scenario):
        if not whole: scenario.update(run)
        scenarios = section["scenarios"]
        index = next((i for i, s in enumerate(scenarios) if s["id"] == scenario["id"]), None)
        if index is None: scenarios.append(scenario)
        else: scenarios[index] = scenario
    for test, servers, values, latencies, rss in rows:
        title, unit = TITLES[test]
        entries = []
        for server in servers:
            entry = {"server": NAMES[server], "median": round(statistics.median(values[server])),
                     "runs": [round(v) for v in values[server]]}
            percentiles = {key: statistics.median(run[key] for run in latencies[server])
                           for key in ["p50", "p90", "p99", "p999"] if latencies[server] and all(key in run for run in latencies[server])}
            if percentiles: entry["latency_us"] = percentiles
            entries.append(entry)
        put({"id": test, "title": title, "unit": unit, "better": "higher", "results": entries})
        if test == "connect" and all(rss[server] for server in servers):
            put({"id": "rss", "title": "server memory per idle connection", "unit": "bytes", "better": "lower",
                 "results": [{"server": NAMES[s], "median": round(statistics.median(rss[s]))} for s in servers]})
    with open(RESULTS, "w") as file:
        json.dump(results, file, indent=2)
        file.write("\n")
    print(f"recorded in {os.path.relpath(RESULTS, ROOT)}; Benchmarks/scripts/charts.sh redraws the charts")

def main():
    recording = "--record" in sys.argv
    if recording: sys.argv.remove("--record")
    suite = sys.argv[1] if len(sys.argv) > 1 else "raw"
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    spec = SUITES[suite]
    if suite == "floor":
        if recording:
            raise SystemExit("the floor suite is printed only: bench.py floor [ROUNDS] [TESTS]")
        if not os.path.exists(FLOOR) or os.path.getmtime(FLOOR) < os.path.getmtime(FLOOR_SOURCE):
            os.makedirs(os.path.dirname(FLOOR), exist_ok=True)
            subprocess.run(["cc", "-O2", "-Wall", "-Wextra", "-o", FLOOR, FLOOR_SOURCE], check=True)
    tests = sys.argv[3].split(",") if len(sys.argv) > 3 else spec["tests"]
    loads = []
    port = int(os.environ.get("PARLEY_BENCH_PORT", "9450"))
    rows = []
    for test in tests:
        servers = [s for s in spec["servers"] if s != "sio" or test in spec["sio_tests"]]
        values = {s: [] for s in servers}
        p99 = {s: [] for s in servers}
        latencies = {s: [] for s in servers}
        rss = {s: [] for s in servers}
        # Server CPU per message (echo) or per delivery (bcast), in µs: the efficiency figure,
        # which the generator's own CPU on a shared box does not cap.
        cpu = {s: [] for s in servers}
        for r in range(rounds):
            order = servers if r % 2 == 0 else list(reversed(servers))
            for server in order:
                port += 1
                result = run(suite, server, test, port)
                value = result[TESTS[test][1]]
                values[server].append(value)
                latency = result.get("latency_us", {}).get("p99")
                if latency is not None:
                    p99[server].append(latency)
                    latencies[server].append(result["latency_us"])
                if test == "connect" and result.get("server_rss_per_conn_kb") is not None:
                    rss[server].append(result["server_rss_per_conn_kb"] * 1024)
                if test != "connect" and value and result.get("server_cpu_s") is not None:
                    cpu[server].append(result["server_cpu_s"] * 1e6 / (value * result["measured_s"]))
                extra = f" rss/conn={rss[server][-1]:.0f}B" if test == "connect" and rss[server] else ""
                extra += f" cpu/msg={cpu[server][-1]:.2f}us" if test != "connect" and cpu[server] else ""
                extra += f" delivered={result.get('delivery_ratio')}" if test == "bcast" else ""
                load = open("/proc/loadavg").read().split()[0]
                loads.append(float(load))
                print(f"{test} round {r+1} {server}: {value:,.0f}{extra} p99={latency}us failed={result.get('failed')} load={load}", flush=True)
                time.sleep(0.5)
        rows.append((test, servers, values, p99, rss, latencies, cpu))
    print()
    print(f"| test | server | median | ratio {spec['servers'][0]}/server | median p99 (ms) | RSS/conn | server CPU/msg | CPU ratio server/{spec['servers'][0]} |")
    print("|---|---|---|---|---|---|---|---|")
    for test, servers, values, p99, rss, _, cpu in rows:
        # The suite's first server is the one compared with the others.
        first = servers[0]
        parley = statistics.median(values[first])
        for server in servers:
            med = statistics.median(values[server])
            lat = f"{statistics.median(p99[server]) / 1000:.2f}" if p99[server] else "-"
            mem = f"{statistics.median(rss[server]):.0f} B" if rss[server] else "-"
            ratio = "-" if server == first else (f"{parley / med:.2f}x" if med else "inf")
            per = f"{statistics.median(cpu[server]):.2f} µs" if cpu[server] else "-"
            cost = (f"{statistics.median(cpu[server]) / statistics.median(cpu[first]):.2f}x"
                    if server != first and cpu[server] and cpu[first] else "-")
            print(f"| {test} | {server} | {med:,.0f} | {ratio} | {lat} | {mem} | {per} | {cost} |")
    # Every Parley variant against every peer: throughput and server CPU per message.
    print()
    for test, servers, values, _, _, _, cpu in rows:
        for mine in [s for s in servers if s.startswith("parley")]:
            for other in [s for s in servers if s != mine and (not s.startswith("parley") or mine == servers[0])]:
                a, b = statistics.median(values[mine]), statistics.median(values[other])
                text = f"{test}: {mine}/{other} = {a / b:.2f}x" if b else f"{test}: {mine}/{other} = inf"
                if cpu[mine] and cpu[other]:
                    text += f", server CPU per message {statistics.median(cpu[mine]) / statistics.median(cpu[other]):.2f}x"
                print(text)
    if suite == "recovery":
        print()
        for test, servers, values, _, _, _, _ in rows:
            off, on = statistics.median(values["parley"]), statistics.median(values["recovery"])
            if test == "kept":
                growth = [(b - a) / KEPT_EVENTS for a, b in zip(values["parley"], values["recovery"])]
                print(f"kept: {statistics.median(growth):,.0f} bytes per kept event (median of per-round "
                      f"differences {', '.join(f'{g:,.0f}' for g in growth)})")
            else:
                print(f"{test}: recovery/off = {on / off:.2f}x (per round: "
                      + ", ".join(f"{b / a:.2f}" for a, b in zip(values["parley"], values["recovery"])) + ")")
    if loads:
        print(f"load average during the runs: {min(loads):.1f}-{max(loads):.1f}")
    if recording:
        record(suite, rounds, [(test, servers, values, latencies, rss) for test, servers, values, _, rss, latencies, _ in rows], loads)

if __name__ == "__main__":
    main()
