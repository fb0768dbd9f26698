#!/bin/bash
# Instructions per echoed message under callgrind: runs parley-server (one loop) under
# valgrind twice, with handshakes only and with ROUNDS x WINDOW messages per connection
# (Benchmarks/scripts/echo-fixed.py, a fixed count, so the figure repeats), and prints
# (total - handshakes only) / messages.
# usage: Benchmarks/scripts/profile-echo.sh raw|envelope [CONNS] [ROUNDS] [WINDOW]
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
  valgrind --tool=callgrind --dump-instr=no --callgrind-out-file="$OUT/cg.$1" "$OUT/parley-server" $ARGS > "$OUT/log.$1" 2>&1 &
  PID=$!
  for _ in $(seq 1 300); do grep -q "on ws://" "$OUT/log.$1" 2>/dev/null && break; sleep 0.2; done
  python3 Benchmarks/scripts/echo-fixed.py $PORT $CONNS $1 $WINDOW $MODE > /dev/null
  kill -TERM $PID; wait $PID || true
  grep "^totals:" "$OUT/cg.$1" | awk '{print $2}'
}
BASE=$(total 0)
LOAD=$(total $ROUNDS)
MESSAGES=$((CONNS * ROUNDS * WINDOW))
echo "$MODE ${CONNS}x$WINDOW: handshakes only $BASE, with $MESSAGES messages $LOAD: $(( (LOAD - BASE) / MESSAGES )) instructions per echoed message (callgrind files in $OUT)"
