#!/usr/bin/env python3
"""Tallies an Autobahn|Testsuite report.

usage: summarize.py INDEX_JSON AGENT LABEL

index.json maps agent -> case id -> {"behavior", "behaviorClose", "remoteCloseCode", "reportfile", ...}.
A case passes when its behavior is OK, NON-STRICT or INFORMATIONAL and its closing behavior OK or
INFORMATIONAL; UNIMPLEMENTED (an extension the peer does not offer) counts as skipped; anything
else fails. Prints one line per failed case, then "LABEL: N passed, N failed[, N skipped]".
Exits 1 when a case failed or none ran.
"""
import json
import sys

PASSING = {"OK", "NON-STRICT", "INFORMATIONAL"}
PASSING_CLOSE = {"OK", "INFORMATIONAL"}


def case_order(case_id):
    return [int(part) for part in case_id.split(".")]


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    path, agent, label = sys.argv[1:]
    with open(path) as file:
        cases = json.load(file).get(agent, {})
    passed = failed = skipped = 0
    for case_id in sorted(cases, key=case_order):
        result = cases[case_id]
        behavior, close = result["behavior"], result["behaviorClose"]
        if behavior == "UNIMPLEMENTED":
            skipped += 1
        elif behavior in PASSING and close in PASSING_CLOSE:
            passed += 1
        else:
            failed += 1
            print(f"FAILED {case_id}: behavior {behavior}, close {close}, "
                  f"remote close code {result.get('remoteCloseCode')} ({result.get('reportfile')})")
    if not cases:
        print(f"no results for agent {agent!r}")
        failed = 1
    line = f"{label}: {passed} passed, {failed} failed"
    print(line + (f", {skipped} skipped" if skipped else ""))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
