#!/bin/bash
# Instructions per echoed message under callgrind: runs parley-server (one loop) under
# valgrind twice, with handshakes only and with ROUNDS x WINDOW messages per connection
# (Benchmarks/scripts/echo-fixed.py, a fixed count, so the figure repeats), and prints
# (total - handshakes only) / messages.
# usage: Benchmarks/scripts/profile-echo.sh raw|envelope|socketio [CONNS] [ROUNDS] [WINDOW]
# (socketio: the same relay's /socket.io/ endpoint, Engine.IO over the WebSocket transport)
# With TLS_CERT, TLS_KEY and TLS_CA set (PEM files), the server speaks wss:// and the load
# verifies it against TLS_CA (Benchmarks/scripts/profile-tls-echo.sh sets them).
# PARLEY_SERVER=path profiles another build (default .build/release/parley-server).
# Needs: swift build -c release --product parley-server; valgrind; python3.
set -e
MODE=${1:-raw}; CONNS=${2:-100}; ROUNDS=${3:-200}; WINDOW=${4:-1}
cd "$(dirname "$0")/../.."
OUT=$(mktemp -d)
# valgrind 3.19 cannot read Swift's DWARF 5: profile a copy without debug sections (symbols stay).
strip --strip-debug -o "$OUT/parley-server" "${PARLEY_SERVER:-.build/release/parley-server}"
total() {
  PORT=$((20000 + RANDOM % 20000))
  ARGS="--loops 1 --port $PORT"; [ "$MODE" = raw ] && ARGS="$ARGS --raw-echo" || ARGS="$ARGS --path /"
  [ -n "${TLS_CERT:-}" ] && ARGS="$ARGS --tls-cert $TLS_CERT --tls-key $TLS_KEY --max-handshakes-per-address 1000"
  valgrind --tool=callgrind --dump-instr=no --callgrind-out-file="$OUT/cg.$1" "$OUT/parley-server" $ARGS > "$OUT/log.$1" 2>&1 &
  PID=$!
  for _ in $(seq 1 300); do grep -q "on wss\?://" "$OUT/log.$1" 2>/dev/null && break; sleep 0.2; done
  python3 Benchmarks/scripts/echo-fixed.py $PORT $CONNS $1 $WINDOW $MODE ${TLS_CA:-} > /dev/null
  kill -TERM $PID; wait $PID || true
  grep "^totals:" "$OUT/cg.$1" | awk '{print $2}'
}
BASE=$(total 0)
LOAD=$(total $ROUNDS)
MESSAGES=$((CONNS * ROUNDS * WINDOW))
echo "$MODE${TLS_CA:+ tls} ${CONNS}x$WINDOW: handshakes only $BASE, with $MESSAGES messages $LOAD: $(( (LOAD - BASE) / MESSAGES )) instructions per echoed message (callgrind files in $OUT)"
