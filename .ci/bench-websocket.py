#!/usr/bin/env python3
"""Side-by-side WebSocket benchmark: parley-server --raw-echo against Node's ws (ws_raw.js).

usage: .ci/bench-websocket.py [ROUNDS] [TESTS]
  ROUNDS  rounds per server (default 5); the servers alternate, a fresh process for each run
  TESTS   comma list of echo100, echo10x16, connect (default all)
Needs: swift build -c release --scratch-path .build-release --product parley-server,
       wsload built into $PARLEY_TOOLS_HOME/bin (see ../shared/tools/README.md), node + node-ws.
Prints one line per run and a table of medians with the parley/ws ratio.
"""
import json, os, statistics, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOLS = os.path.join(os.path.dirname(ROOT), "shared", "tools")
HOME = os.environ.get("PARLEY_TOOLS_HOME", os.path.expanduser("~/.cache/parley-tools"))
WSLOAD = os.path.join(HOME, "bin", "wsload")
PARLEY = os.path.join(ROOT, ".build-release", "release", "parley-server")

TESTS = {
    "echo100": (["--mode", "echo", "--conns", "100", "--window", "1", "--duration", "5"], "msgs_per_s"),
    "echo10x16": (["--mode", "echo", "--conns", "10", "--window", "16", "--duration", "5"], "msgs_per_s"),
    "connect": (["--mode", "connect", "--conns", "10000", "--concurrency", "256", "--hold", "3"], "handshakes_per_s"),
}

def start(server, port):
    if server == "parley":
        cmd = [PARLEY, "--raw-echo", "--port", str(port)]
    else:
        cmd = ["node", os.path.join(TOOLS, "peers", "ws_raw.js"), str(port), "300"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    line = proc.stdout.readline()  # both print one line once listening
    if not line:
        raise SystemExit(f"{server} did not start")
    return proc

def run(server, test, port):
    proc = start(server, port)
    try:
        args, key = TESTS[test]
        out = subprocess.run([WSLOAD, "--port", str(port), "--quiet", "--server-pid", str(proc.pid)] + args,
                             capture_output=True, text=True, timeout=200).stdout
        result = json.loads([l for l in out.splitlines() if l.startswith("RESULT ")][-1][7:])
        rss_kb = None
        if test == "connect" and result.get("server_rss_per_conn_kb") is not None:
            # server RSS growth per held connection, as wsload measures it (hold minus before)
            rss_kb = result["server_rss_per_conn_kb"] * 1024
        return result[key], result, rss_kb
    finally:
        proc.terminate()
        proc.wait(timeout=10)

def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    tests = sys.argv[2].split(",") if len(sys.argv) > 2 else list(TESTS)
    port = 9450
    summary = {}
    for test in tests:
        values = {"parley": [], "ws": []}
        rss = {"parley": [], "ws": []}
        for r in range(rounds):
            order = ["parley", "ws"] if r % 2 == 0 else ["ws", "parley"]
            for server in order:
                port += 1
                value, result, rss_per_conn = run(server, test, port)
                values[server].append(value)
                if rss_per_conn is not None:
                    rss[server].append(rss_per_conn)
                load = open("/proc/loadavg").read().split()[0]
                extra = f" rss/conn={rss_per_conn:.0f}B" if rss_per_conn is not None else ""
                p99 = result.get("latency_us", {}).get("p99")
                print(f"{test} round {r+1} {server}: {value:,.0f}{extra} p99={p99}us failed={result.get('failed')} load={load}", flush=True)
                time.sleep(0.5)
        med = {s: statistics.median(v) for s, v in values.items()}
        summary[test] = (med, {s: statistics.median(v) for s, v in rss.items() if v})
    print()
    print("| test | parley median | ws median | ratio parley/ws | parley RSS/conn | ws RSS/conn |")
    print("|---|---|---|---|---|---|")
    for test, (med, rss) in summary.items():
        rp = f"{rss['parley']:.0f} B" if "parley" in rss else "-"
        rw = f"{rss['ws']:.0f} B" if "ws" in rss else "-"
        print(f"| {test} | {med['parley']:,.0f} | {med['ws']:,.0f} | {med['parley']/med['ws']:.2f}x | {rp} | {rw} |")

if __name__ == "__main__":
    main()
