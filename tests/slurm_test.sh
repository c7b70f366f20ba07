#!/usr/bin/env bash
# deploy/slurm with a real single-node Slurm (munge, slurmctld, slurmd on this machine): the
# sbatch template passes `sbatch --test-only`, and the coordinator's slurm launcher runs a small
# Yale B job to SUCCEEDED through it; a cancelled job leaves nothing in squeue.
set -euo pipefail
source_dir=$1
coordinator_bin=$2
ftl_bin=$3
data_root=$(realpath "$4")
work=$(mktemp -d)
coord_pid=""
cleanup() {
  [[ -n $coord_pid ]] && kill -9 "$coord_pid" 2>/dev/null || true
  scancel --user=root 2>/dev/null || true
  bash "$source_dir/scripts/slurm_local.sh" stop "$work/slurm" || true
  rm -rf "$work" || true
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; [[ -f $work/coord.log ]] && tail -30 "$work/coord.log"; exit 1; }
[[ $(id -u) == 0 ]] || fail "needs root to start slurmctld/slurmd"

slurm_env=$(bash "$source_dir/scripts/slurm_local.sh" start "$work/slurm") || fail "cannot start Slurm"
eval "$slurm_env"
sinfo

echo "--- sbatch --test-only"
bash -n "$source_dir/deploy/slurm/ftl_workers.sbatch" || fail "template is not valid bash"
# Right after slurmd registers, the controller may not yet know the node's resources: retry.
for _ in $(seq 20); do
  FTL_COORDINATOR=127.0.0.1:1 FTL_JOB_ID=test sbatch --test-only \
    "$source_dir/deploy/slurm/ftl_workers.sbatch" > "$work/testonly.log" 2>&1 || true
  grep -q "to start at" "$work/testonly.log" && break
  sleep 0.5
done
cat "$work/testonly.log"
grep -q "to start at" "$work/testonly.log" || fail "sbatch --test-only refused the template"

echo "--- coordinator with --launcher slurm"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$coordinator_bin" --listen 127.0.0.1:$port --metrics_listen "" --state_dir "$work/state" \
  --data_root "$data_root" --launcher slurm \
  --slurm_template "$source_dir/deploy/slurm/ftl_workers.sbatch" > "$work/coord.log" 2>&1 &
coord_pid=$!
export FTL_COORDINATOR=127.0.0.1:$port
for _ in $(seq 50); do "$ftl_bin" list > /dev/null 2>&1 && break; sleep 0.2; done
write_job() {
  cat > "$1" <<JSON
{"name": "slurm", "model": {"preset": "small", "input_size": 32},
 "data": {"path": "$data_root/yaleb-cropped", "cut_classes": 13, "cut_to_images": 5},
 "training": {"batch_size": 16, "pretrain_iterations": $2, "rounds": 1, "stage_iterations": 20},
 "runtime": {"ranks": 2}}
JSON
}
write_job "$work/job.json" 40
id=$("$ftl_bin" submit "$work/job.json")
"$ftl_bin" watch "$id" > "$work/watch.log" || { cat "$work/watch.log"; cat "$work/state/jobs/$id/worker.log" || true; fail "job did not succeed"; }
grep -q "Slurm job" "$work/coord.log" || fail "not launched through sbatch"
grep -q "ftl_workers: job $id, 2 rank(s)" "$work/state/jobs/$id/worker.log" || fail "template did not run"
"$ftl_bin" status "$id"

echo "--- cancel"
write_job "$work/long.json" 5000
id=$("$ftl_bin" submit "$work/long.json")
for _ in $(seq 120); do
  [[ $("$ftl_bin" status --json "$id" | python3 -c "import json,sys; print(json.load(sys.stdin).get('workers_attached', 0))") == 2 ]] && break
  sleep 0.5
done
[[ -n $(squeue -h -n "ftl-$id") ]] || fail "no Slurm job for $id"
"$ftl_bin" cancel "$id" > /dev/null
for _ in $(seq 40); do [[ -z $(squeue -h -n "ftl-$id") ]] && break; sleep 0.5; done
[[ -z $(squeue -h -n "ftl-$id") ]] || fail "Slurm job survived the cancel: $(squeue)"
echo PASS
