#!/bin/bash
# callgrind on one receiving node (node 1) of a 2-node cluster on one Redis, and on a single
# node, each fanning a 50 msg/s broadcast out to 333 wsload receivers (BENCHMARKS.md, Scale-out).
# Then: callgrind_annotate --inclusive=yes callgrind.cluster | head -40 (and callgrind.single).
ROOT=$(cd "$(dirname "$0")/../.." && pwd)   # the repository root
B=$ROOT/.build-release/release/parley-server
W=${PARLEY_TOOLS_HOME:-$HOME/.cache/parley-tools}/bin/wsload
OUT=$(mktemp -d); cd "$OUT"; echo "profiles in $OUT"
free() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
R=$(free); N0=$(free); N1=$(free); S=$(free)
redis-server --port $R --bind 127.0.0.1 --save '' --appendonly no --logfile $OUT/redis.log & RP=$!
sleep 0.3
$B --port $N0 --path / --loops 1 --redis redis://127.0.0.1:$R > n0.log 2>&1 & P0=$!
valgrind --tool=callgrind --callgrind-out-file=callgrind.cluster $B --port $N1 --path / --loops 1 --redis redis://127.0.0.1:$R > n1.log 2>&1 & P1=$!
for i in $(seq 100); do grep -q "relay on" n1.log && break; sleep 0.2; done
$W --dialect envelope --mode broadcast --port $N1 --conns 333 --senders 1 --event idle --rate 0.01 --reply-event broadcast --duration 6 --warmup 1 --quiet > w1.log 2>&1 & WP=$!
sleep 0.5
$W --dialect envelope --mode broadcast --port $N0 --conns 1 --senders 1 --rate 50 --duration 6 --warmup 1 --quiet > w0.log 2>&1
wait $WP
kill $P1; wait $P1; kill $P0; wait $P0; kill $RP; wait $RP
valgrind --tool=callgrind --callgrind-out-file=callgrind.single $B --port $S --path / --loops 1 > s.log 2>&1 & PS=$!
for i in $(seq 100); do grep -q "relay on" s.log && break; sleep 0.2; done
$W --dialect envelope --mode broadcast --port $S --conns 333 --senders 1 --rate 50 --duration 6 --warmup 1 --quiet > ws.log 2>&1
kill $PS; wait $PS
echo PROFDONE
