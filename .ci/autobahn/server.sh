#!/usr/bin/env bash
# Tests a WebSocket server with Autobahn|Testsuite's fuzzing client.
# usage: .ci/autobahn/server.sh PORT [AGENT]
# The server must already listen on ws://127.0.0.1:PORT/ and echo every message (text as text,
# binary as binary). Prints failed cases and ends with "autobahn-server: N passed, N failed";
# exits non-zero if a case failed or none ran. Environment: see common.sh; AUTOBAHN_SCHEME=wss
# tests a TLS server (wss://; wstest does not verify the certificate).
set -euo pipefail
port=${1:?usage: server.sh PORT [AGENT]}
agent=${2:-parley-server}
source "$(dirname "$0")/common.sh"
scheme=${AUTOBAHN_SCHEME:-ws}
write_spec fuzzingclient "$scheme://127.0.0.1:$port" "$agent"
echo "autobahn-server: testing $scheme://127.0.0.1:$port as $agent; reports in $out/report"
if ! (cd "$out" && timeout "$timeout_seconds" "$wstest" -m fuzzingclient -s spec.json > wstest.log 2>&1); then
  tail -5 "$out/wstest.log"
  echo "autobahn-server: wstest failed or ran longer than $timeout_seconds s"
  exit 1
fi
python3 "$autobahn_dir/summarize.py" "$out/report/index.json" "$agent" autobahn-server
