#!/usr/bin/env bash
# Starts two coordinators on loopback, one plaintext and one serving TLS (a self-signed
# certificate made here by openssl), each with 20 queued jobs, then measures GetJob and ListJobs
# requests per second from 4 concurrent clients; the TLS overhead is GetJob over both, measured
# side by side: ROUNDS alternations of SECONDS_PER_RUN each, the best of each side kept.
set -euo pipefail
cd "$(dirname "$0")/.."
b=build
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2> /dev/null; rm -rf "$work"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=localhost" \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -keyout "$work/key.pem" -out "$work/cert.pem" 2> /dev/null
plain=$(free_port) tls=$(free_port)
start() {  # start PORT [TLS flags]
  local port=$1; shift
  $b/services/coordinator/ftl_coordinator --listen 127.0.0.1:$port --metrics_listen "" "$@" \
    --state_dir "$work/state-$port" --data_root "$(realpath ../shared/data)" --launcher external > "$work/log-$port" 2>&1 &
  pids+=($!)
}
start "$plain"
start "$tls" --tls_cert "$work/cert.pem" --tls_key "$work/key.pem"
sleep 1
cat > "$work/job.json" <<JSON
{"name": "load", "data": {"path": "$(realpath ../shared/data/yaleb-cropped)"}}
JSON
for i in $(seq 20); do
  plain_id=$($b/services/cli/ftl --coordinator 127.0.0.1:$plain submit "$work/job.json")
  tls_id=$($b/services/cli/ftl --coordinator 127.0.0.1:$tls --tls_ca "$work/cert.pem" submit "$work/job.json")
done
seconds=${SECONDS_PER_RUN:-5}
$b/bench/coordinator_load --coordinator 127.0.0.1:$plain --job "$plain_id" --threads 4 --seconds "$seconds"
best_plain=0 best_tls=0
for round in $(seq "${ROUNDS:-3}"); do
  p=$($b/bench/coordinator_load --coordinator 127.0.0.1:$plain --job "$plain_id" --only GetJob --seconds "$seconds" | awk '{print $2}')
  t=$($b/bench/coordinator_load --coordinator 127.0.0.1:$tls --tls_ca "$work/cert.pem" --job "$tls_id" --only GetJob --seconds "$seconds" | awk '{print $2}')
  echo "round $round: GetJob plaintext $p/s, TLS $t/s"
  best_plain=$(python3 -c "print(max($best_plain, $p))") best_tls=$(python3 -c "print(max($best_tls, $t))")
done
python3 -c "print('GetJob_tls_over_plaintext: %.3f (best of each: TLS %.0f/s, plaintext %.0f/s)' % ($best_tls / $best_plain, $best_tls, $best_plain))"
