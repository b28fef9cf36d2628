#!/usr/bin/env bash
# Serves the demo (fake GitHub and Pipedrive, three tracked users) on a free port and runs
# Schemathesis against its OpenAPI document. Usage: run-api-fuzz.sh SCHEMATHESIS GISTTRACK DEMO
set -euo pipefail
schemathesis=$1 gisttrack=$2 demo=$3
here=$(cd "$(dirname "$0")" && pwd)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log=$(mktemp)
data=$(mktemp -d)
# Its own process group, so stopping it stops the server it started too; its own data
# folder, so a `make demo` running meanwhile keeps its database.
DEMO_PORT=$port DEMO_DATA_DIR=$data setsid "$demo" "$gisttrack" >"$log" 2>&1 &
demo_pid=$!
trap 'kill -TERM -- -$demo_pid 2>/dev/null; wait $demo_pid 2>/dev/null || true; rm -rf "$log" "$data"' EXIT
for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  kill -0 $demo_pid 2>/dev/null || { cat "$log" >&2; exit 1; }
  sleep 0.2
done
status=0
"$schemathesis" --config-file "$here/schemathesis.toml" run \
  "http://127.0.0.1:$port/documentation/openapi.json" --checks all --no-color --seed 20261130 || status=$?
if [ $status -ne 0 ]; then
  echo "--- the server's log" >&2
  cat "$log" >&2
fi
exit $status
