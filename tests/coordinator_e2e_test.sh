#!/usr/bin/env bash
# The coordinator with real processes on loopback: the ftl CLI, ftl_coordinator and
# `mpirun -np 2 ftl_worker` ranks started by the local launcher, on a small Yale B job.
#   auth, admission, submit/watch to SUCCEEDED, promtool on /metrics, cancel, SIGKILL of the
#   coordinator mid-job, SIGKILL of one worker rank mid-phase, SIGSTOP of rank 1 with the
#   collective watchdog off (the coordinator's --stall_timeout ends it).
set -euo pipefail
coordinator_bin=$1
ftl_bin=$2
data_root=$(realpath "$3")
yale="$data_root/yaleb-cropped"
work=$(mktemp -d)
coord_pid=""
cleanup() {
  [[ -n $coord_pid ]] && kill -9 "$coord_pid" 2>/dev/null || true
  pkill -9 -f "ftl_worker --coordinator 127.0.0.1:$port" 2>/dev/null || true
  rm -rf "$work" || true
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; [[ -f $work/coord.log ]] && tail -40 "$work/coord.log"; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
metrics_port=$(free_port)
echo "s3cret-token-$RANDOM" > "$work/token"
echo "not-the-token" > "$work/wrong"
export FTL_COORDINATOR=127.0.0.1:$port

start_coordinator() {
  "$coordinator_bin" --listen "127.0.0.1:$port" --metrics_listen "127.0.0.1:$metrics_port" \
    --state_dir "$work/state" --data_root "$data_root" --data_root "$work" \
    --auth_token_file "$work/token" --heartbeat_timeout 10 --stall_timeout 12 >> "$work/coord.log" 2>&1 &
  coord_pid=$!
  for _ in $(seq 50); do
    "$ftl_bin" --token_file "$work/token" list > /dev/null 2>&1 && return 0
    sleep 0.2
  done
  fail "coordinator did not come up"
}
ftl() { "$ftl_bin" --token_file "$work/token" "$@"; }
job_field() {  # job_field ID FIELD
  ftl status "$1" --json | python3 -c "import json,sys; print(json.load(sys.stdin).get('$2', ''))"
}
wait_for() {  # wait_for SECONDS 'CONDITION' (evaluated afresh each time)
  local limit=$1; shift
  for _ in $(seq $((limit * 2))); do eval "$1" && return 0; sleep 0.5; done
  return 1
}
write_job() {  # write_job FILE PRETRAIN_ITERATIONS [STAGE_ITERATIONS [COLLECTIVE_TIMEOUT]]
  cat > "$1" <<JSON
{"name": "e2e", "model": {"preset": "small", "input_size": 32},
 "data": {"path": "$yale", "cut_classes": 13, "cut_to_images": 5},
 "training": {"batch_size": 16, "pretrain_iterations": $2, "rounds": 1, "stage_iterations": ${3:-20}},
 "runtime": {"ranks": 2, "progress_seconds": 5, "collective_timeout_seconds": ${4:-600}}}
JSON
}
rank_pid() {  # rank_pid JOB_ID RANK: the worker process of that MPI rank
  local pid
  for pid in $(pgrep -f "ftl_worker --coordinator 127.0.0.1:$port --job $1"); do
    grep -qxzF "OMPI_COMM_WORLD_RANK=$2" "/proc/$pid/environ" 2>/dev/null && echo "$pid"
  done
  return 0
}

start_coordinator
write_job "$work/job.json" 40

echo "--- auth"
set +e
out=$("$ftl_bin" submit "$work/job.json" 2>&1); code=$?
[[ $code == 1 && $out == *UNAUTHENTICATED* ]] || fail "no token: exit $code: $out"
out=$("$ftl_bin" --token_file "$work/wrong" list 2>&1); code=$?
[[ $code == 1 && $out == *UNAUTHENTICATED* ]] || fail "wrong token: exit $code: $out"
set -e

echo "--- admission"
refuse() {  # refuse FILE FIELD
  set +e
  local out code
  out=$(ftl submit "$1" 2>&1); code=$?
  set -e
  [[ $code == 1 && $out == *INVALID_ARGUMENT* && $out == *"$2"* ]] || fail "$1: exit $code: $out"
  [[ $(echo "$out" | wc -l) == 1 ]] || fail "error is not one line: $out"
}
sed "s#\"path\": \"$yale\"#\"path\": \"/etc\"#" "$work/job.json" > "$work/outside.json"
refuse "$work/outside.json" data.path
sed 's/"stage_iterations": 20/"stage_iterations": -4/' "$work/job.json" > "$work/negative.json"
refuse "$work/negative.json" training.stage_iterations
echo '{"name": "no data"}' > "$work/missing.json"
refuse "$work/missing.json" data.path
[[ $(ftl list --json | python3 -c "import json,sys; print(len(json.load(sys.stdin).get('jobs', [])))") == 0 ]] ||
  fail "a refused job was stored"

echo "--- submit and watch"
id=$(ftl submit --json "$work/job.json" | python3 -c "import json,sys; print(json.load(sys.stdin)['id'])")
ftl watch --json "$id" > "$work/watch.jsonl" || { cat "$work/watch.jsonl"; fail "watch exit code"; }
python3 - "$work/watch.jsonl" <<'PY' || fail "phases out of order"
import json, sys
events = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
started = [e for e in events if "phase_started" in e]
phases = [e["phase_started"] for e in started]
want = ["pretrain", "checkpoint", "update_stats", "stage1", "stage2", "evaluate", "checkpoint"]
print("watched phases:", phases)
created = int(events[0]["job"]["create_time_ms"])
print("submit-to-first-phase latency: %.2f s" % ((int(started[0]["time_ms"]) - created) / 1000))
finished = [e["phase_finished"]["phase"] for e in events if "phase_finished" in e]
sys.exit(0 if phases == want and finished == want else 1)
PY
[[ $(job_field "$id" state) == SUCCEEDED ]] || fail "state $(job_field "$id" state)"
ckpt=$(job_field "$id" checkpoint)
[[ -s $ckpt ]] || fail "checkpoint '$ckpt' missing"

echo "--- metrics"
curl -sf "127.0.0.1:$metrics_port/metrics" > "$work/metrics.txt" || fail "no /metrics"
promtool check metrics < "$work/metrics.txt" || fail "promtool rejects /metrics"
for series in 'ftl_jobs{state="SUCCEEDED"} 1' "ftl_phase_duration_seconds_count{job_id=\"$id\",phase=\"pretrain\"} 1" \
              "ftl_images_trained_total{job_id=\"$id\",phase=\"stage1\"}" "ftl_pca_energy_kept_ratio{job_id=\"$id\"}" \
              "ftl_ur_regular_weight_norm_ratio{job_id=\"$id\"}" "ftl_step_duration_seconds_bucket" \
              "ftl_allreduce_bytes_total{job_id=\"$id\"}" "ftl_evaluation{job_id=\"$id\",metric=\"train_top1_regular\"}"; do
  grep -qF "$series" "$work/metrics.txt" || fail "metric missing: $series"
done

echo "--- cancel"
write_job "$work/long.json" 3000
id=$(ftl submit "$work/long.json")
wait_for 60 'test "$(job_field $id workers_attached)" == 2' || fail "workers did not attach"
pgrep -f "ftl_worker --coordinator 127.0.0.1:$port --job $id" > /dev/null || fail "no worker processes"
ftl cancel "$id" > /dev/null
[[ $(job_field "$id" state) == CANCELLED ]] || fail "not CANCELLED"
wait_for 15 '! pgrep -f "ftl_worker --coordinator 127.0.0.1:$port --job $id" > /dev/null' ||
  fail "worker processes survived the cancel: $(pgrep -af ftl_worker)"

echo "--- SIGKILL the coordinator mid-job"
write_job "$work/mid.json" 150 80
id=$(ftl submit "$work/mid.json")
wait_for 90 'test "$(job_field $id restart_position)" -ge 2' || fail "first checkpoint not reached"
kill -9 "$coord_pid"; wait "$coord_pid" 2>/dev/null || true
start_coordinator
grep -q "1 running relaunched from their last checkpoint" "$work/coord.log" || fail "the job was not running when the coordinator was killed"
ftl watch "$id" > "$work/watch2.log" || { cat "$work/watch2.log"; fail "recovered job did not succeed"; }
[[ $(job_field "$id" state) == SUCCEEDED ]] || fail "recovered job state"

echo "--- SIGKILL one worker rank mid-phase"
id=$(ftl submit "$work/mid.json")
wait_for 90 'test "$(job_field $id restart_position)" -ge 2' || fail "first checkpoint not reached"
wait_for 30 'test "$(job_field $id phase)" == stage2' || fail "stage 2 not reached"
rank=$(pgrep -f "ftl_worker --coordinator 127.0.0.1:$port --job $id" | tail -1)
[[ -n $rank ]] || fail "no worker rank to kill"
kill -9 "$rank"
ftl watch "$id" > "$work/watch3.log" || { cat "$work/watch3.log"; fail "job did not survive a lost rank"; }
[[ $(job_field "$id" restarts) -ge 1 ]] || fail "no restart recorded"
[[ $(job_field "$id" state) == SUCCEEDED ]] || fail "state after lost rank"
grep -E "restart 1 of 2" "$work/coord.log" || fail "restart not logged"

echo "--- SIGSTOP rank 1 with the collective watchdog off: rank 0 beats, its work count stands"
write_job "$work/stuck.json" 150 80 0
id=$(ftl submit "$work/stuck.json")
wait_for 90 'test "$(job_field $id restart_position)" -ge 2' || fail "first checkpoint not reached"
wait_for 30 'test "$(job_field $id phase)" == stage2' || fail "stage 2 not reached"
rank=$(rank_pid "$id" 1)
[[ -n $rank ]] || fail "no rank 1 to stop"
stopped_at=$(date +%s.%N)
kill -STOP "$rank"
wait_for 60 'grep -q "workers alive but stuck" "$work/coord.log"' || fail "a stuck job was not detected"
python3 -c "import time; print('stuck job detected %.1f s after SIGSTOP (--stall_timeout 12)' % (time.time() - $stopped_at))"
ftl watch "$id" > "$work/watch4.log" || { cat "$work/watch4.log"; fail "job did not survive a stopped rank"; }
[[ $(job_field "$id" restarts) -ge 1 ]] || fail "no restart recorded after the stall"
[[ $(job_field "$id" state) == SUCCEEDED ]] || fail "state after the stall"
echo PASS
