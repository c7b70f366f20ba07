#!/usr/bin/env bash
# Starts a coordinator on loopback with one finished job and a few queued ones, then measures
# GetJob / ListJobs requests per second from 4 concurrent clients (10 s each).
set -euo pipefail
cd "$(dirname "$0")/.."
b=build
work=$(mktemp -d); trap 'kill $pid 2>/dev/null; rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
$b/services/coordinator/ftl_coordinator --listen 127.0.0.1:$port --metrics_listen "" \
  --state_dir "$work/state" --data_root "$(realpath ../shared/data)" --launcher external > "$work/log" 2>&1 &
pid=$!
sleep 1
cat > "$work/job.json" <<JSON
{"name": "load", "data": {"path": "$(realpath ../shared/data/yaleb-cropped)"}}
JSON
for i in $(seq 20); do id=$($b/services/cli/ftl --coordinator 127.0.0.1:$port submit "$work/job.json"); done
$b/bench/coordinator_load --coordinator 127.0.0.1:$port --job "$id" --threads 4 --seconds "${SECONDS_PER_RUN:-10}"
