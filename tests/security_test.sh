#!/usr/bin/env bash
# Issue 16 with real processes on loopback: TLS and mutual TLS (certificates made by openssl
# here), the refusal to listen in the clear off loopback, per-job worker credentials (the users'
# token cannot attach a worker; launched workers attach over mTLS with their own), reflection
# off unless asked (health stays open), non-finite numbers, oversized specs and NUL bytes refused
# while listing keeps working, an unreadable token file, and the real paths kept at admission.
# Also `ftl manifest` (the MPIJob for a job's workers) over TLS, validated like deploy/k8s.
#   security_test.sh COORDINATOR FTL WORKER GRPC_PROBE DATA_ROOT VENV_PYTHON SOURCE_DIR
set -euo pipefail
coordinator_bin=$(realpath "$1") ftl_bin=$(realpath "$2") worker_bin=$(realpath "$3") probe_bin=$(realpath "$4")
data_root=$(realpath "$5") venv_python=$(realpath -s "$6") source_dir=$(realpath "$7")
yale="$data_root/yaleb-cropped"
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -9 "$pid" 2> /dev/null || true; done
  pkill -9 -f "ftl_worker --coordinator 127.0.0.1:$port" 2> /dev/null || true
  rm -rf "$work" || true
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; for f in "$work"/*.log; do echo "== $f"; tail -20 "$f"; done; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
cd "$work"

echo "--- certificates (openssl)"
make_ca() {  # make_ca NAME
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=$1" -keyout "$1.key" -out "$1.pem" 2> /dev/null
}
make_cert() {  # make_cert NAME CA EXTENSIONS
  openssl req -newkey rsa:2048 -nodes -subj "/CN=$1" -keyout "$1.key" -out "$1.csr" 2> /dev/null
  printf '%s\n' "$3" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -CAcreateserial -days 2 \
    -extfile "$1.ext" -out "$1.pem" 2> /dev/null
}
make_ca ca
make_ca wrong_ca
make_cert server ca "subjectAltName=DNS:localhost,IP:127.0.0.1"
make_cert client ca "extendedKeyUsage=clientAuth"
echo "user-token-$RANDOM" > token
mkdir data && ln -s "$yale" data/faces

echo "--- no TLS off loopback"
set +e
out=$("$coordinator_bin" --listen "0.0.0.0:$port" --data_root "$work/data" --state_dir "$work/s0" \
  --metrics_listen "" 2>&1); code=$?
set -e
[[ $code == 2 && $out == *TLS* && $out == *--allow_insecure* ]] || fail "0.0.0.0 without TLS: exit $code: $out"
"$coordinator_bin" --listen "0.0.0.0:$port" --allow_insecure --data_root "$work/data" \
  --state_dir "$work/s0" --metrics_listen "" > insecure.log 2>&1 &
pids+=($!)
for _ in $(seq 50); do grep -q "listening on" insecure.log && break; sleep 0.2; done
grep -q "plaintext" insecure.log || fail "--allow_insecure did not start a plaintext coordinator"
echo "--- reflection is off unless asked; health stays open"
[[ $("$probe_bin" "127.0.0.1:$port" /grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo) == UNIMPLEMENTED ]] ||
  fail "reflection answers without --reflection"
[[ $("$probe_bin" "127.0.0.1:$port" /grpc.health.v1.Health/Check) == OK ]] || fail "health check"
kill "${pids[-1]}"; wait "${pids[-1]}" 2> /dev/null || true
"$coordinator_bin" --listen "127.0.0.1:$port" --reflection --data_root "$work/data" \
  --state_dir "$work/s0" --metrics_listen "" > reflection.log 2>&1 &
pids+=($!)
for _ in $(seq 50); do grep -q "listening on" reflection.log && break; sleep 0.2; done
[[ $("$probe_bin" "127.0.0.1:$port" /grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo) == OK ]] ||
  fail "--reflection does not serve reflection"
kill "${pids[-1]}"; wait "${pids[-1]}" 2> /dev/null || true

echo "--- mutual TLS coordinator"
"$coordinator_bin" --listen "127.0.0.1:$port" --metrics_listen "" --state_dir "$work/state" \
  --data_root "$work/data" --data_root "$data_root" --auth_token_file token --max_concurrent_jobs 1 \
  --tls_cert server.pem --tls_key server.key --tls_client_ca ca.pem \
  --worker_tls_ca ca.pem --worker_tls_cert client.pem --worker_tls_key client.key > coord.log 2>&1 &
pids+=($!)
export FTL_COORDINATOR=127.0.0.1:$port
tls=(--tls_ca ca.pem --tls_cert client.pem --tls_key client.key --token_file token)
for _ in $(seq 50); do "$ftl_bin" "${tls[@]}" list > /dev/null 2>&1 && break; sleep 0.2; done
grep -q "mutual TLS" coord.log || fail "coordinator does not say it serves mutual TLS"
"$ftl_bin" "${tls[@]}" list > /dev/null || fail "list over mutual TLS"
expect_refused() {  # expect_refused WHAT PATTERN ftl-args...
  local what=$1 pattern=$2; shift 2
  set +e
  local out code
  out=$("$ftl_bin" "$@" 2>&1); code=$?
  set -e
  [[ $code != 0 && $out == *$pattern* ]] || fail "$what: exit $code: $out"
  echo "refused as it should be ($what): $out"
}
expect_refused "wrong CA" UNAVAILABLE --tls_ca wrong_ca.pem --tls_cert client.pem --tls_key client.key --token_file token list
expect_refused "plaintext to the TLS port" TLS --token_file token list
expect_refused "mTLS without a client certificate" UNAVAILABLE --tls_ca ca.pem --token_file token list
expect_refused "unreadable token file" "$work/no-token" --tls_ca ca.pem --tls_cert client.pem --tls_key client.key \
  --token_file "$work/no-token" list

echo "--- bounded and finite input"
write_job() {  # write_job FILE NAME PRETRAIN_LR PATH
  cat > "$1" <<JSON
{"name": "$2", "model": {"preset": "small", "input_size": 32},
 "data": {"path": "$4", "cut_classes": 13, "cut_to_images": 5},
 "training": {"batch_size": 16, "pretrain_iterations": 30, "rounds": 1, "stage_iterations": 10,
              "pretrain_lr": $3},
 "runtime": {"ranks": 1, "threads_per_rank": 1}}
JSON
}
write_job nan.json nan '"NaN"' "$work/data/faces"
expect_refused "NaN learning rate" training.pretrain_lr "${tls[@]}" submit nan.json
python3 -c "print('x' * 3000000)" > big_name
write_job big.json "$(cat big_name)" 0.001 "$work/data/faces"
expect_refused "3 MB name" "at most" "${tls[@]}" submit big.json
write_job nul.json nul 0.001 '/faces\u0000/../etc'
expect_refused "NUL byte in a path" NUL "${tls[@]}" submit nul.json
"$ftl_bin" "${tls[@]}" list > /dev/null || fail "listing broke after the refused submissions"

echo "--- a job over mTLS; its stored paths are the real ones"
write_job job.json tls-job 0.001 "$work/data/faces"
id=$("$ftl_bin" "${tls[@]}" submit job.json)
stored=$("$ftl_bin" "${tls[@]}" status --json "$id" | python3 -c "import json,sys; print(json.load(sys.stdin)['spec']['data']['path'])")
[[ $stored == "$(realpath "$yale")" ]] || fail "stored data.path '$stored', not the link's target"
"$ftl_bin" "${tls[@]}" watch "$id" > watch.log || fail "the job did not succeed over mutual TLS"
grep -q "attached" coord.log || fail "no worker attached"
job_dir="$work/state/jobs/$id"
credential=$(ls "$job_dir"/worker_credential.* | head -1)
[[ -n $credential && $(stat -c %a "$credential") == 600 ]] || fail "worker credential is not private"
! grep -qF "$(cat token)" "$credential" || fail "the users' token was handed to workers"

echo "--- ftl manifest: the MPIJob for this job's workers"
"$ftl_bin" "${tls[@]}" manifest "$id" > mpijob.yaml || fail "ftl manifest"
grep -q "FTL_JOB_ID, value: \"$id\"" mpijob.yaml || fail "the manifest does not carry the job id"
"$venv_python" "$source_dir/tests/k8s_validate.py" "$source_dir/deploy" --mpijob mpijob.yaml ||
  fail "the generated MPIJob is not valid"

echo "--- the users' token cannot attach a worker"
sed 's/"pretrain_iterations": 30/"pretrain_iterations": 3000/' job.json > long.json
id=$("$ftl_bin" "${tls[@]}" submit long.json)
for _ in $(seq 120); do
  [[ $("$ftl_bin" "${tls[@]}" status --json "$id" | python3 -c "import json,sys; print(json.load(sys.stdin).get('workers_attached', 0))") == 1 ]] && break
  sleep 0.5
done
set +e
OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 timeout 60 "$worker_bin" --coordinator "127.0.0.1:$port" \
  --job "$id" --token_file token --tls_ca ca.pem --tls_cert client.pem --tls_key client.key > impostor.log 2>&1
code=$?
set -e
[[ $code != 0 ]] && grep -q "credential" impostor.log || fail "a worker with the users' token attached (exit $code)"
grep -q "refused a worker" coord.log || fail "the refusal is not logged"
"$ftl_bin" "${tls[@]}" cancel "$id" > /dev/null
echo PASS
