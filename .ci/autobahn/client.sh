#!/usr/bin/env bash
# Tests a WebSocket client with Autobahn|Testsuite's fuzzing server.
# usage: .ci/autobahn/client.sh PORT AGENT -- COMMAND [ARGUMENTS...]
# Starts the fuzzing server on ws://127.0.0.1:PORT, then runs COMMAND with AB_URL and AB_AGENT
# set. The command must read AB_URL/getCaseCount (one text message: the number of cases N), run
# AB_URL/runCase?case=I&agent=AB_AGENT for I in 1...N echoing every message, and finally open
# AB_URL/updateReports?agent=AB_AGENT. Prints failed cases and ends with
# "autobahn-client: N passed, N failed"; exits non-zero if a case failed or none ran.
# Environment: see common.sh.
set -euo pipefail
port=${1:?usage: client.sh PORT AGENT -- COMMAND...}
agent=${2:?usage: client.sh PORT AGENT -- COMMAND...}
shift 2
[ "${1:-}" = "--" ] && shift
[ $# -gt 0 ] || { echo "usage: client.sh PORT AGENT -- COMMAND..." >&2; exit 2; }
source "$(dirname "$0")/common.sh"
write_spec fuzzingserver "ws://127.0.0.1:$port" "$agent"
echo "autobahn-client: fuzzing server on ws://127.0.0.1:$port for $agent; reports in $out/report"
# -u 0: no embedded web server (it would take port 8080).
(cd "$out" && exec "$wstest" -m fuzzingserver -s spec.json -u 0 > wstest.log 2>&1) &
wstest_pid=$!
trap 'kill $wstest_pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do   # up to 10 s for the fuzzing server to listen
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  kill -0 $wstest_pid 2>/dev/null || break
  sleep 0.1
done
status=0
AB_URL="ws://127.0.0.1:$port" AB_AGENT=$agent timeout "$timeout_seconds" "$@" > "$out/client.log" 2>&1 || status=$?
if [ $status -ne 0 ]; then
  echo "autobahn-client: the client exited with status $status; the end of $out/client.log:"
  tail -5 "$out/client.log"
fi
kill $wstest_pid 2>/dev/null || true
wait $wstest_pid 2>/dev/null || true
trap - EXIT
if [ ! -f "$out/report/index.json" ]; then
  tail -5 "$out/wstest.log"
  echo "autobahn-client: no report (the client never asked for updateReports)"
  exit 1
fi
python3 "$autobahn_dir/summarize.py" "$out/report/index.json" "$agent" autobahn-client
