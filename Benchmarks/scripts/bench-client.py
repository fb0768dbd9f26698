#!/usr/bin/env python3
"""ParleyClient against wsload, side by side, on parley-server's relay (path /).

usage: Benchmarks/scripts/bench-client.py [ROUNDS] [TESTS]   (default 3 rounds, ~1 minute each; TESTS: echo,bcast = both)

Every run gets a fresh release `parley-server --port P --path /`; the runs of a test alternate.
  echo    window-1 round trips of one connection, 64-byte messages:
            wsload        wsload --dialect envelope --mode echo --conns 1 --window 1 --duration 5
            client        parley-client-bench echo --duration 5 --warmup 1   (waits for the `echo` event)
            client-ack    parley-client-bench echo --duration 5 --warmup 1 --via ack   (emitWithAck; for information)
  bcast   broadcast from one wsload sender to 1,000 receivers:
            wsload        wsload --dialect envelope --mode broadcast --conns 1000 --senders 1 --duration 5
                          (the server benchmark: wsload's 1,000 receivers, flow-controlled max rate)
            client@R      parley-client-bench receive --clients 1000 --duration 5 provides the receivers;
                          wsload --conns 1 --senders 1 --rate R sends, R = the send rate of the
                          wsload runs so far (median, msgs/s): the same load as the server benchmark
            client@max    as client@R but without --rate: the sender's flow control then follows
                          wsload's single receiver, not the 1,000 clients (headroom, for information)
Needs: swift build -c release --scratch-path .build-release --product parley-server, the same in
Benchmarks/ with --product parley-client-bench (the script builds both), and wsload in $PARLEY_TOOLS_HOME/bin
(make -C ../shared/tools/wsload OUT="$HOME/.cache/parley-tools/bin").
Prints one line per run, then tables of medians, per-run values and ratios.
"""
import json, os, statistics, subprocess, sys, time

# The repository root: this file is Benchmarks/scripts/NAME.
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HOME = os.environ.get("PARLEY_TOOLS_HOME", os.path.expanduser("~/.cache/parley-tools"))
WSLOAD = os.path.join(HOME, "bin", "wsload")
RELEASE = os.path.join(ROOT, ".build-release", "release")
SERVER = os.path.join(RELEASE, "parley-server")
BENCHMARKS = os.path.join(ROOT, "Benchmarks")
BENCH = os.path.join(BENCHMARKS, ".build-release", "release", "parley-client-bench")
CLIENTS = 1000
DURATION = "5"

port = 9700


def load():
    return open("/proc/loadavg").read().split()[0]


def result_of(output, who):
    lines = [l for l in output.splitlines() if l.startswith("RESULT ")]
    if not lines:
        raise SystemExit(f"{who} printed no RESULT:\n{output[-2000:]}")
    return json.loads(lines[-1][7:])


class Server:
    """A fresh relay on a new port for one run."""

    def __enter__(self):
        global port
        port += 1
        self.port = port
        self.proc = subprocess.Popen([SERVER, "--port", str(port), "--path", "/", "--max-handshakes-per-address", "1000"], stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        if not self.proc.stdout.readline():  # prints one line once listening
            raise SystemExit("parley-server did not start")
        return self

    def __exit__(self, *_):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        time.sleep(0.5)


def wsload(server, args):
    out = subprocess.run([WSLOAD, "--dialect", "envelope", "--port", str(server.port), "--quiet",
                          "--server-pid", str(server.proc.pid)] + args, capture_output=True, text=True, timeout=150).stdout
    return result_of(out, "wsload")


def bench_echo(server, extra):
    out = subprocess.run([BENCH, "echo", "--url", f"ws://127.0.0.1:{server.port}/", "--duration", DURATION,
                          "--warmup", "1"] + extra, capture_output=True, text=True, timeout=150).stdout
    return result_of(out, "parley-client-bench echo")


def bench_receive(server, sender_args):
    """parley-client-bench receive with 1,000 clients; once all are connected, a wsload sender."""
    bench = subprocess.Popen([BENCH, "receive", "--url", f"ws://127.0.0.1:{server.port}/", "--clients", str(CLIENTS),
                              "--duration", DURATION, "--warmup", "1", "--drain", "1"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    head = bench.stdout.readline()  # READY connected=N ... (the bench caps its connect phase itself)
    if not head.startswith("READY"):
        bench.kill()
        raise SystemExit(f"parley-client-bench receive did not get ready: {head}{bench.stdout.read()[-2000:]}")
    sender = wsload(server, ["--mode", "broadcast", "--conns", "1", "--senders", "1", "--duration", DURATION] + sender_args)
    out, _ = bench.communicate(timeout=120)
    return sender, result_of(out, "parley-client-bench receive")


def build():
    # parley-server from the root package, parley-client-bench from the Benchmarks package.
    for package, product in ((ROOT, "parley-server"), (BENCHMARKS, "parley-client-bench")):
        subprocess.run(["swift", "build", "-c", "release", "--scratch-path", os.path.join(package, ".build-release"),
                        "--product", product], cwd=package, check=True, stdout=subprocess.DEVNULL)


def med(values):
    return statistics.median(values) if values else float("nan")


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    tests = sys.argv[2].split(",") if len(sys.argv) > 2 else ["echo", "bcast"]
    build()
    echo = {k: {"rate": [], "p50": [], "p99": [], "cpu": [], "load": []} for k in ("wsload", "client", "client-ack")}
    bcast = {k: {"rate": [], "p50": [], "p99": [], "sent": [], "complete": [], "cpu": [], "server_cpu": [], "load": [],
                 "maxp99s": []} for k in ("wsload", "client@R", "client@max")}
    rates = []

    for r in range(rounds):
        order = ["wsload", "client", "client-ack"] if "echo" in tests else []
        if r % 2:
            order.reverse()
        for who in order:
            with Server() as server:
                if who == "wsload":
                    res = wsload(server, ["--mode", "echo", "--conns", "1", "--window", "1", "--duration", DURATION])
                    cpu = res.get("gen_cpu_pct")
                else:
                    res = bench_echo(server, ["--via", "ack"] if who == "client-ack" else [])
                    cpu = res.get("cpu_pct")
            e = echo[who]
            e["rate"].append(res["msgs_per_s"])
            e["p50"].append(res["latency_us"]["p50"])
            e["p99"].append(res["latency_us"]["p99"])
            e["cpu"].append(cpu)
            e["load"].append(load())
            print(f"echo round {r+1} {who}: {res['msgs_per_s']:,.0f} msg/s p50={res['latency_us']['p50']}us "
                  f"p99={res['latency_us']['p99']}us cpu={cpu:.0f}% load={e['load'][-1]}", flush=True)

        # The wsload run fixes R; in odd rounds the client runs go first, with the R measured so far.
        order = ["wsload", "client@R", "client@max"]
        if r % 2:
            order = ["client@max", "client@R", "wsload"]
        if "bcast" not in tests:
            order = []
        for who in order:
            with Server() as server:
                if who == "wsload":
                    res = wsload(server, ["--mode", "broadcast", "--conns", str(CLIENTS), "--senders", "1",
                                          "--duration", DURATION])
                    rates.append(res["sent_per_s"])
                    rate, lat = res["deliveries_per_s"], res["latency_us"]
                    complete, cpu, sent = res["delivery_ratio"], res["gen_cpu_pct"], res["sent_per_s"]
                    maxp99 = "-"
                else:
                    extra = ["--rate", f"{round(med(rates))}"] if who == "client@R" else []
                    if who == "client@R" and not rates:
                        raise SystemExit("no wsload rate yet")
                    sender, res = bench_receive(server, extra)
                    rate, lat, cpu, sent = res["deliveries_per_s"], res["latency_us"], res["cpu_pct"], sender["sent_per_s"]
                    owed = sender["sent_total"] * res["connected"]
                    complete = res["deliveries_total"] / owed if owed else 0
                    if res["connected"] != CLIENTS or res["disconnects_in_window"]:
                        print(f"  warning: connected {res['connected']}, disconnects {res['disconnects_in_window']}")
                    # p99 of each second of the window: a growing backlog shows as a rising series.
                    maxp99 = "/".join(f"{s['p99'] / 1000:.0f}" for s in res["per_second"][1:1 + int(DURATION)])
                server_cpu = (res if who == "wsload" else sender).get("server_cpu_pct")
            b = bcast[who]
            b["rate"].append(rate)
            b["p50"].append(lat["p50"])
            b["p99"].append(lat["p99"])
            b["sent"].append(sent)
            b["complete"].append(complete)
            b["cpu"].append(cpu)
            b["server_cpu"].append(server_cpu)
            b["load"].append(load())
            b["maxp99s"].append(maxp99)
            print(f"bcast round {r+1} {who}: {rate:,.0f} deliveries/s sent={sent:,.0f}/s p50={lat['p50']/1000:.1f}ms "
                  f"p99={lat['p99']/1000:.1f}ms delivered={complete:.4f} receiver-cpu={cpu:.0f}% server-cpu={server_cpu}% "
                  f"p99-by-second(ms)={maxp99} load={b['load'][-1]}", flush=True)

    if "echo" in tests:
        print_echo(echo)
    if "bcast" in tests:
        print_bcast(bcast)


def print_echo(echo):
    print()
    print("| echo, 1 conn, window 1 | msg/s median | p50 RTT median | p99 RTT median | CPU % median |")
    print("|---|---|---|---|---|")
    for who, e in echo.items():
        print(f"| {who} | {med(e['rate']):,.0f} | {med(e['p50'])} µs | {med(e['p99'])} µs | {med(e['cpu']):.0f} |")
    w, c = echo["wsload"], echo["client"]
    print(f"\nclient / wsload: p50 RTT {med(c['p50']) / med(w['p50']):.3f}x, msg/s {med(c['rate']) / med(w['rate']):.3f}x "
          f"(target: p50 within 1.20x)")
    paired = [c / w for c, w in zip(echo["client"]["p50"], echo["wsload"]["p50"])]
    print("per-round p50 ratios client/wsload: " + " · ".join(f"{v:.2f}" for v in paired) + f" (median {med(paired):.3f})")
    print("Per run:")
    for who, e in echo.items():
        print(f"  echo {who}: msg/s " + " · ".join(f"{v:,.0f}" for v in e["rate"]) + "; p50 µs " + " · ".join(map(str, e["p50"]))
              + "; p99 µs " + " · ".join(map(str, e["p99"])) + "; load " + " · ".join(e["load"]))


def print_bcast(bcast):
    print()
    print("| broadcast to 1,000 | receivers | sent msg/s median | deliveries/s median | p50 median | p99 median "
          "| delivered | receiver CPU % | server CPU % |")
    print("|---|---|---|---|---|---|---|---|---|")
    for who, b in bcast.items():
        receivers = "wsload (1,000 conns)" if who == "wsload" else "parley-client-bench (1,000 clients)"
        print(f"| {who} | {receivers} | {med(b['sent']):,.0f} | {med(b['rate']):,.0f} | {med(b['p50'])/1000:.1f} ms "
              f"| {med(b['p99'])/1000:.1f} ms | {min(b['complete']):.4f} (min) | {med(b['cpu']):.0f} | {med(b['server_cpu']):.0f} |")
    wr, cr = med(bcast["wsload"]["rate"]), med(bcast["client@R"]["rate"])
    print(f"\nclient@R / wsload deliveries/s: {cr / wr:.3f}x; client@max / wsload: {med(bcast['client@max']['rate']) / wr:.3f}x")
    print("Per run:")
    for who, b in bcast.items():
        print(f"  bcast {who}: deliveries/s " + " · ".join(f"{v:,.0f}" for v in b["rate"]) + "; p99 ms "
              + " · ".join(f"{v/1000:.1f}" for v in b["p99"]) + "; sent/s " + " · ".join(f"{v:,.0f}" for v in b["sent"])
              + "; p99 by second (ms) " + " · ".join(b["maxp99s"]) + "; load " + " · ".join(b["load"]))


if __name__ == "__main__":
    main()
