#!/usr/bin/env bash
# `make demo`: the main job on a fresh machine, against the embedded reference server.
#   1. lint the bundled specs;  2. validate the vendor's published samples;
#   3. start the reference server and contract-test it (passes);
#   4. start it again with an injected bug and show the suite catching it.
# Servers run in the background on free loopback ports and are stopped on exit,
# whatever step fails.
set -euo pipefail

BIN=${1:?usage: demo.sh VENV_BIN SAMPLES_DIR}
SAMPLES=${2:?usage: demo.sh VENV_BIN SAMPLES_DIR}
AC="$BIN/amlyze-contracts"
PY="$BIN/python"
WORK=$(mktemp -d)
PIDS=()

cleanup() {
  for pid in "${PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() { printf '\n=== %s\n' "$*"; }

free_port() { "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# start_server PORT [serve options...]: background server, returns when it answers.
start_server() {
  local port=$1
  shift
  "$AC" serve --host 127.0.0.1 --port "$port" "$@" >"$WORK/server-$port.log" 2>&1 &
  PIDS+=($!)
  local pid=$!
  "$PY" - "$port" "$pid" <<'PYEOF'
import os, sys, time, urllib.request
port, pid = sys.argv[1], int(sys.argv[2])
deadline = time.monotonic() + 30
while time.monotonic() < deadline:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        sys.exit(f"the server on port {port} exited before it was ready")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/classifier/currency", timeout=1):
            sys.exit(0)
    except OSError:
        time.sleep(0.1)
sys.exit(f"the server on port {port} was not ready within 30 s")
PYEOF
}

# The token goes through the environment, never the command line or the output.
export AMLYZE_CONTRACTS_TOKEN=dev-token

step "1. The bundled OpenAPI specs lint clean"
"$AC" specs lint

step "2. The vendor's published samples, validated as they are"
# Announced outcome, checked below: the four account samples are valid (exit 0; the
# vendor's sample IBANs and BICs only draw warnings); dailyBalance.json follows the
# vendor's later revision (balanceAt), so under the default revision 2024-11-04 it is
# refused for the missing updateAt (exit 1) and warned about balanceAt.
[ -d "$SAMPLES" ] || { echo "demo: $SAMPLES: the vendor samples folder is missing" >&2; exit 2; }
"$AC" validate "$SAMPLES"/active*.json "$SAMPLES"/closed*.json "$SAMPLES"/suspended*.json
echo "(exit 0, as announced: the account samples are valid; warnings only)"
set +e
"$AC" validate --format json "$SAMPLES/dailyBalance.json" >"$WORK/daily.json"
status=$?
set -e
"$PY" - "$status" "$WORK/daily.json" <<'PYEOF'
import json, sys
status, report = int(sys.argv[1]), json.load(open(sys.argv[2]))
found = sorted((v["rule"], v["pointer"]) for f in report["files"] for v in f["violations"])
expected = [("balances.balance-at-renamed", "/balanceAt"), ("schema.required", "/updateAt")]
if status != 1 or found != expected:
    sys.exit(f"demo: dailyBalance.json: expected exit 1 with {expected}, got exit {status} with {found}")
print("dailyBalance.json: exit 1, as announced: schema.required /updateAt (error), "
      "balances.balance-at-renamed /balanceAt (warning)")
PYEOF

PORT=$(free_port)
step "3. Reference server on 127.0.0.1:$PORT; the contract suite against it"
start_server "$PORT"
"$AC" test --base-url "http://127.0.0.1:$PORT"

BUGGY=$(free_port)
step "4. The same suite against a server with the injected bug 'no-bic-rule'"
start_server "$BUGGY" --bug no-bic-rule
set +e
"$AC" test --base-url "http://127.0.0.1:$BUGGY"
status=$?
set -e
if [ "$status" -ne 1 ]; then
  echo "expected the suite to fail (exit 1) on the buggy server, got exit $status" >&2
  exit 1
fi
echo "(exit 1, as it should: the suite caught the injected bug)"

step "Done"
