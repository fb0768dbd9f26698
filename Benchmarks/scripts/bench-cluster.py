#!/usr/bin/env python3
"""Broadcast fan-out across 3 parley-server nodes on one Redis, against 1 node alone, with the
same total number of receivers.

usage: Benchmarks/scripts/bench-cluster.py [--recovery] [--window W] [ROUNDS] [RECEIVERS]   (default 5 rounds, 1000 receivers; ~1 minute a round)

--window W: the max-rate sender keeps W messages in flight (wsload --window; 2 by default): with
2 the rate is bound by the fan-out's latency, with 16 by the servers' capacity.

With --recovery the round runs `cluster` (pub/sub only, as below) and `cluster+recovery` (the same
with --recovery on every node: broadcasts go through a Redis stream, Protocol.md 11.1), alternating;
after each cluster+recovery run, Redis's MEMORY USAGE of the `/` stream divided by its XLEN gives
the bytes Redis holds per kept event.

Every run gets fresh processes; the order of the runs alternates every round. One round runs:
  single      parley-server --port P --path /                     (default: one loop per core)
              wsload --dialect envelope --mode broadcast --port P --conns 1000 --senders 1 --duration 5
              (max rate, flow-controlled by all 1,000 receivers)
  cluster     redis-server on a free port (no persistence), and
              3 x parley-server --port Pi --path / --loops 1 --redis redis://127.0.0.1:R
              node 0: wsload ... --conns 334 --senders 1                    (max rate; its flow control
                      sees node 0's receivers only, so nodes 1 and 2 get no say: a backlog there
                      shows in their p99)
              nodes 1, 2: wsload ... --conns 333 --senders 1 --event idle --rate 0.01 --reply-event broadcast
                      (receivers only: their one sender emits an event the relay ignores)
  cluster@R   as cluster, the node-0 sender at --rate R, R = the single run's send rate this round
              (the same offered load as the single node)
deliveries/s of a cluster run = the sum over the three wsloads (their windows start together, within
~0.1 s); p99 = the largest of the three. Needs a release build
(swift build -c release --scratch-path .build-release --product parley-server), wsload in
$PARLEY_TOOLS_HOME/bin (make -C ../shared/tools/wsload OUT="$HOME/.cache/parley-tools/bin"), redis-server.
Prints one line per run, then the medians and the cluster/single ratios.
"""
import json, os, socket, statistics, subprocess, sys, tempfile, time

# The repository root: this file is Benchmarks/scripts/NAME.
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HOME = os.environ.get("PARLEY_TOOLS_HOME", os.path.expanduser("~/.cache/parley-tools"))
WSLOAD = os.path.join(HOME, "bin", "wsload")
SERVER = os.path.join(ROOT, ".build-release", "release", "parley-server")
DURATION = "5"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load():
    return open("/proc/loadavg").read().split()[0]


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def result_of(output, who):
    lines = [l for l in output.splitlines() if l.startswith("RESULT ")]
    if not lines:
        raise SystemExit(f"{who} printed no RESULT:\n{output[-2000:]}")
    return json.loads(lines[-1][7:])


class Redis:
    def __enter__(self):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="parley-bench-redis-")
        self.proc = subprocess.Popen(["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
                                      "--appendonly", "no", "--dir", self.dir, "--logfile", os.path.join(self.dir, "log")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(200):
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                time.sleep(0.02)
        raise SystemExit("redis-server did not start")

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        subprocess.run(["rm", "-rf", self.dir])


class Node:
    def __init__(self, extra):
        self.port = free_port()
        self.proc = subprocess.Popen([SERVER, "--port", str(self.port), "--path", "/",
                                      # the load generator's handshakes from one address: over the cap of 32
                                      "--max-handshakes-per-address", "1000"] + extra,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if not self.proc.stdout.readline():  # one line once listening
            raise SystemExit("parley-server did not start")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


def wsload(port, pid, conns, extra=()):
    return subprocess.Popen([WSLOAD, "--dialect", "envelope", "--mode", "broadcast", "--port", str(port), "--quiet",
                             "--conns", str(conns), "--senders", "1", "--duration", DURATION, "--server-pid", str(pid)]
                            + list(extra), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def run_single(receivers):
    node = Node([])
    try:
        proc = wsload(node.port, node.proc.pid, receivers, WINDOW)
        out, _ = proc.communicate(timeout=120)
        r = result_of(out, "wsload")
        return {"deliveries": r["deliveries_per_s"], "p99": r["latency_us"]["p99"] / 1000,
                "p50": round(r["latency_us"]["p50"] / 1000, 1),
                "sent": r.get("sent_per_s") or r.get("msgs_sent_per_s") or 0, "ratio": r.get("delivery_ratio"),
                "cpu": r.get("server_cpu_pct"), "raw": r}
    finally:
        node.stop()


def redis_command(port, *args):
    """One RESP2 command; the integer answer (or None)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(f"*{len(args)}\r\n".encode() + b"".join(f"${len(a)}\r\n{a}\r\n".encode() for a in args))
        reply = s.recv(256)
    return int(reply[1:].split(b"\r\n")[0]) if reply.startswith(b":") else None


WINDOW = []  # ["--window", W] when given


def run_cluster(receivers, rate=None, recovery=False):
    with Redis() as redis:
        url = f"redis://127.0.0.1:{redis.port}"
        nodes = [Node(["--loops", "1", "--redis", url] + (["--recovery"] if recovery else [])) for _ in range(3)]
        try:
            redis_cpu = cpu_seconds(redis.proc.pid)
            shares = [receivers - 2 * (receivers // 3), receivers // 3, receivers // 3]
            sender = ["--rate", f"{rate:.1f}"] if rate else WINDOW
            quiet = ["--event", "idle", "--rate", "0.01", "--reply-event", "broadcast"]
            procs = [wsload(nodes[0].port, nodes[0].proc.pid, shares[0], sender)]
            procs += [wsload(nodes[i].port, nodes[i].proc.pid, shares[i], quiet) for i in (1, 2)]
            results = [result_of(p.communicate(timeout=120)[0], f"wsload {i}") for i, p in enumerate(procs)]
            redis_cpu = cpu_seconds(redis.proc.pid) - redis_cpu
            sent = results[0].get("sent_per_s") or results[0].get("msgs_sent_per_s") or 0
            extra = {}
            if recovery:
                length = redis_command(redis.port, "XLEN", "parley#/#stream")
                memory = redis_command(redis.port, "MEMORY", "USAGE", "parley#/#stream", "SAMPLES", "0")
                if length and memory:
                    extra = {"stream_entries": length, "redis_bytes_per_entry": round(memory / length)}
            return extra | {"deliveries": sum(r["deliveries_per_s"] for r in results),
                    "p99": max(r["latency_us"]["p99"] for r in results) / 1000,
                    "per_node": [round(r["deliveries_per_s"]) for r in results],
                    "p99_per_node": [round(r["latency_us"]["p99"] / 1000, 1) for r in results],
                    "p50_per_node": [round(r["latency_us"]["p50"] / 1000, 1) for r in results],
                    "sent": sent, "ratio": results[0].get("delivery_ratio"),
                    "cpu": sum((r.get("server_cpu_pct") or 0) for r in results),
                    "redis_cpu_s": round(redis_cpu, 2)}
        finally:
            for node in nodes:
                node.stop()


def main():
    recovery = "--recovery" in sys.argv
    if recovery: sys.argv.remove("--recovery")
    if "--window" in sys.argv:
        index = sys.argv.index("--window")
        WINDOW[:] = ["--window", sys.argv[index + 1]]
        del sys.argv[index:index + 2]
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    receivers = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    runs = {"cluster": [], "cluster+recovery": []} if recovery else {"single": [], "cluster": [], "cluster@R": []}
    loads = []
    for r in range(rounds):
        if recovery:
            order = ["cluster", "cluster+recovery"] if r % 2 == 0 else ["cluster+recovery", "cluster"]
        else:
            order = ["single", "cluster", "cluster@R"] if r % 2 == 0 else ["cluster", "single", "cluster@R"]
        rate = None
        for name in order:
            before = load()
            loads.append(float(before))
            if name == "single":
                result = run_single(receivers)
            elif name == "cluster":
                result = run_cluster(receivers)
            elif name == "cluster+recovery":
                result = run_cluster(receivers, recovery=True)
            else:
                result = run_cluster(receivers, rate=runs["single"][-1]["sent"])
            result.pop("raw", None)
            runs[name].append(result)
            print(f"round {r + 1} {name:10} deliveries/s={result['deliveries']:,.0f} p99={result['p99']:.1f}ms "
                  f"sent/s={result['sent']:.0f} " + " ".join(f"{k}={v}" for k, v in result.items()
                                                             if k not in ("deliveries", "p99", "sent"))
                  + f" load={before}", flush=True)
    print()
    reference = "cluster" if recovery else "single"
    single = statistics.median(x["deliveries"] for x in runs[reference])
    print(f"| setup | deliveries/s (median) | p99 ms (median) | vs {reference} |")
    print("| --- | --- | --- | --- |")
    for name, values in runs.items():
        median = statistics.median(x["deliveries"] for x in values)
        p99 = statistics.median(x["p99"] for x in values)
        print(f"| {name} | {median:,.0f} | {p99:.1f} | {median / single:.2f}x |")
    for name, values in runs.items():
        print(f"{name}: " + " · ".join(f"{x['deliveries']:,.0f} ({x['p99']:.1f} ms)" for x in values))
    if recovery:
        ratios = [b["deliveries"] / a["deliveries"] for a, b in zip(runs["cluster"], runs["cluster+recovery"])]
        print(f"cluster+recovery/cluster per round: {', '.join(f'{x:.2f}' for x in ratios)}; "
              f"median {statistics.median(ratios):.2f}x")
        sizes = [x["redis_bytes_per_entry"] for x in runs["cluster+recovery"] if "redis_bytes_per_entry" in x]
        if sizes: print(f"Redis bytes per stream entry (MEMORY USAGE / XLEN): median {statistics.median(sizes):.0f}")
    print(f"load average during the runs: {min(loads):.1f}-{max(loads):.1f}")


if __name__ == "__main__":
    main()
