#!/usr/bin/env bash
# TLS benchmark (run from the repository root): wss echo (Parley TLS, Node ws TLS, Parley plain)
# and, with CONNECT=1, 10,000 TLS handshakes. Needs the release parley-server, wsload and node-ws;
# makes a throw-away CA and an ECDSA P-256 certificate in $TLS_DIR. See BENCHMARKS.md.
# With BEFORE=PATH (another parley-server build), its TLS runs alternate with the others too.
# Ends with a table of medians: msg/s, server and load generator CPU per message, handshakes/s,
# server memory per idle connection.
# usage: Benchmarks/scripts/tls.sh ROUNDS OUT.jsonl
set -u
ROUNDS=${1:-5}; OUT=${2:-/tmp/parley-tls-bench.jsonl}
ulimit -n 65536 2>/dev/null || ulimit -n $(ulimit -Hn)
W=${PARLEY_TOOLS_HOME:-$HOME/.cache/parley-tools}/bin/wsload
PS=.build/release/parley-server
NODE=${NODE_PEER:-../shared/tools/peers/ws_raw.js}  # the Node ws peer (tools next to the repository)
TLS_DIR=${TLS_DIR:-$(mktemp -d)}
C=$TLS_DIR/cert.pem; K=$TLS_DIR/key.pem; CA=$TLS_DIR/ca.pem
if [ ! -f "$C" ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$TLS_DIR/ca.key" -out "$CA" -days 30 \
    -subj /CN=BenchCA -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign 2>/dev/null
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$K" -out "$TLS_DIR/s.csr" -subj /CN=localhost 2>/dev/null
  printf "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n" > "$TLS_DIR/ext"
  openssl x509 -req -in "$TLS_DIR/s.csr" -CA "$CA" -CAkey "$TLS_DIR/ca.key" -set_serial 7 -days 30 -extfile "$TLS_DIR/ext" -out "$C" 2>/dev/null
fi
LOG=$TLS_DIR/server.log
: > "$OUT"
# One load generator connects from one address: allow its 256 handshakes in flight.
PARLEY_ARGS="--raw-echo --port 0 --max-clients 20000 --max-handshakes-per-address 1000"
start_server() { # kind port
  case $1 in
    parley-tls) $PS $PARLEY_ARGS --tls-cert $C --tls-key $K > $LOG 2>&1 & ;;
    parley-tls-before) $BEFORE $PARLEY_ARGS --tls-cert $C --tls-key $K > $LOG 2>&1 & ;;
    parley-plain) $PS $PARLEY_ARGS > $LOG 2>&1 & ;;
    node-tls) node $NODE $2 600 --tls $C $K > $LOG 2>&1 & ;;
  esac
  SPID=$!
  for _ in $(seq 100); do grep -q "listening\|echo on" $LOG && break; sleep 0.05; done
  case $1 in parley-*) PORT=$(grep -o ':[0-9][0-9]*/' $LOG | head -1 | tr -d :/) ;; *) PORT=$2 ;; esac
}
stop_server() { kill $SPID 2>/dev/null; wait $SPID 2>/dev/null; }
run() { # kind test round
  local port=$((30000 + RANDOM % 20000))
  start_server $1 $port
  port=$PORT
  local tls=""; [ "$1" != parley-plain ] && tls="--tls --tls-ca $CA --host localhost"
  [ -z "$tls" ] && tls="--host 127.0.0.1"
  local result
  if [ "$2" = echo ]; then
    result=$($W --mode echo --port $port $tls --conns 100 --window 1 --duration 5 --warmup 1 --server-pid $SPID --quiet 2>/dev/null | grep '^RESULT' | cut -c8-)
  else
    result=$($W --mode connect --port $port $tls --conns 10000 --concurrency 256 --hold 3 --duration 90 --hs-timeout 30 --server-pid $SPID --quiet 2>/dev/null | grep '^RESULT' | cut -c8-)
  fi
  echo "{\"round\":$3,\"server\":\"$1\",\"test\":\"$2\",\"load\":\"$(cut -d' ' -f1-3 /proc/loadavg)\",\"result\":${result:-null}}" >> "$OUT"
  stop_server
}
KINDS="parley-tls node-tls parley-plain"; TLS_KINDS="parley-tls node-tls"
[ -n "${BEFORE:-}" ] && { KINDS="parley-tls parley-tls-before node-tls parley-plain"; TLS_KINDS="parley-tls parley-tls-before node-tls"; }
for r in $(seq $ROUNDS); do
  for kind in $KINDS; do run $kind echo $r; done
  [ -n "${CONNECT:-}" ] && for kind in $TLS_KINDS; do run $kind connect $r; done
done
python3 - "$OUT" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def med(values): return statistics.median(values) if values else float('nan')
print(f"load average during the runs: {', '.join(r['load'] for r in rows)}")
for test in ('echo', 'connect'):
    for kind in sorted({r['server'] for r in rows if r['test'] == test}):
        rs = [r['result'] for r in rows if r['test'] == test and r['server'] == kind and r['result']]
        if test == 'echo':
            rs = [r for r in rs if r['connected'] == 100 and r['received']]
            print(f"echo    {kind:18} {len(rs)} runs: {med([r['msgs_per_s'] for r in rs]):9,.0f} msg/s  "
                  f"server {med([r['server_cpu_s'] / r['received'] * 1e6 for r in rs]):5.2f} us/msg  "
                  f"generator {med([r['gen_cpu_s'] / r['received'] * 1e6 for r in rs]):5.2f} us/msg  "
                  "(" + " · ".join(format(r["msgs_per_s"], ",.0f") for r in rs) + ")")
        else:
            print(f"connect {kind:18} {len(rs)} runs: {med([r['handshakes_per_s'] for r in rs]):9,.0f} hs/s  "
                  f"{med([r['server_rss_per_conn_kb'] for r in rs]):5.1f} kB/idle connection  connected "
                  + " · ".join(str(r["connected"]) for r in rs) + "  (" + " · ".join(format(r["handshakes_per_s"], ",.0f") for r in rs) + ")")
PY
