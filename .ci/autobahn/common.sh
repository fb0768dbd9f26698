# Shared by server.sh and client.sh (sourced, not run): where wstest lives, where reports go,
# and the test specification.
#
# Environment:
#   AUTOBAHN_HOME     the wstest installation (default ~/.cache/parley/autobahn; setup.sh fills it)
#   AUTOBAHN_OUT      the report directory (default: a new temporary directory)
#   AUTOBAHN_CASES    comma-separated case patterns to run (default "*")
#   AUTOBAHN_EXCLUDE  comma-separated case patterns to skip (default "9.*,12.*,13.*": the
#                     performance cases and permessage-deflate, which Parley does not offer)
#   AUTOBAHN_TIMEOUT  seconds allowed for the run (default 900)
autobahn_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
AUTOBAHN_HOME=${AUTOBAHN_HOME:-$HOME/.cache/parley/autobahn}
export AUTOBAHN_HOME
[ -x "$AUTOBAHN_HOME/bin/wstest" ] || bash "$autobahn_dir/setup.sh"
wstest=$AUTOBAHN_HOME/bin/wstest
timeout_seconds=${AUTOBAHN_TIMEOUT:-900}
out=${AUTOBAHN_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/parley-autobahn.XXXXXX")}
mkdir -p "$out" && out=$(cd "$out" && pwd) && rm -rf "$out/report"

# write_spec MODE URL AGENT: MODE is fuzzingclient (tests a server at URL, named AGENT) or
# fuzzingserver (listens at URL for the client under test); writes $out/spec.json.
write_spec() {
  python3 - "$@" "$out" <<'PY'
import json, os, sys
mode, url, agent, out = sys.argv[1:]
patterns = lambda name, default: [p for p in os.environ.get(name, default).split(",") if p]
spec = {"outdir": os.path.join(out, "report"),
        "cases": patterns("AUTOBAHN_CASES", "*"),
        "exclude-cases": patterns("AUTOBAHN_EXCLUDE", "9.*,12.*,13.*"),
        "exclude-agent-cases": {}}
if mode == "fuzzingclient":
    spec["servers"] = [{"agent": agent, "url": url}]
else:
    spec["url"] = url
json.dump(spec, open(os.path.join(out, "spec.json"), "w"), indent=2)
PY
}
