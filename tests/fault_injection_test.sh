#!/usr/bin/env bash
# Fault injection with real processes (`mpirun -np 2 ftl_worker` on Yale B at 32x32):
#   1. SIGKILL one rank in the middle of stage 1: the run dies, `--resume` finishes it from the
#      last good checkpoint, and no checkpoint is damaged.
#   2. SIGKILL one rank in the middle of UpdateStats (at 192x192 input, so that it lasts seconds):
#      the same, from the pre-training checkpoint.
#   3. The checkpoint disk fills up during a save (a tmpfs sized for one checkpoint): the worker
#      stops with "No space left", leaves no partial file, the earlier checkpoint still loads, and
#      after space is freed `--resume` finishes the job.
#   4. SIGSTOP one rank in the middle of stage 2 (runtime.collective_timeout_seconds 5): the other
#      rank's watchdog ends it with exit code 4 and a message naming the collective, mpirun ends
#      the job, and `--resume` finishes it. Prints the detection time.
# Each case prints the progress lost (iterations trained after the last good checkpoint).
# (SIGKILL of the coordinator and of a rank under the coordinator: coordinator_e2e_test.sh;
# a corrupt newest checkpoint: worker_e2e_test.sh.) Needs root for the tmpfs mount.
set -euo pipefail
worker=$1
mpiexec=$2
data_root=$3
yale="$data_root/yaleb-cropped"
[[ -d $yale ]] || { echo "FAIL: $yale not found"; exit 1; }
[[ $(id -u) == 0 ]] || { echo "FAIL: needs root to mount a tmpfs"; exit 1; }
work=$(mktemp -d)
mounted=
cleanup() { [[ -n $mounted ]] && umount "$mounted" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
mpi=("$mpiexec" --oversubscribe -np 2)

job() {  # job OUTPUT_DIR [INPUT_SIZE PRETRAIN_ITERATIONS STAGE_ITERATIONS] > config
  cat <<JSON
{
  "name": "faults",
  "model": {"preset": "small", "input_size": ${2:-32}},
  "data": {"path": "$yale", "cut_classes": 13, "cut_to_images": 5},
  "training": {"batch_size": 8, "pretrain_iterations": ${3:-40}, "rounds": 2, "stage_iterations": ${4:-150},
               "pretrain_lr": 0.002, "stage1_lr": 0.0001, "stage2_lr": 0.0001},
  "runtime": {"output_dir": "$1", "progress_seconds": 0.2, "keep_checkpoints": 5}
}
JSON
}
check_all_load() {  # every checkpoint left in DIR passes its checksum: resume reads them all
  for f in "$1"/ckpt-*.ftlckpt; do
    [[ $(head -c 8 "$f" | od -An -c | tr -d ' \n') == FTLCKPT* ]] || fail "$f lost its header"
  done
  ! ls "$1"/*.tmp.* 2>/dev/null || fail "a partial checkpoint file was left behind"
}

# --- 1. SIGKILL one rank mid stage 1 -----------------------------------------------------------
job "$work/kill" > "$work/kill.json"
"${mpi[@]}" "$worker" --config "$work/kill.json" --threads 1 > "$work/kill.log" 2>&1 &
run=$!
for _ in $(seq 600); do grep -q "\[stage1 r0\] [0-9]*/" "$work/kill.log" 2>/dev/null && break; sleep 0.1; done
grep -q "\[stage1 r0\] [0-9]*/" "$work/kill.log" || { cat "$work/kill.log"; fail "stage 1 never started"; }
victim=$(pgrep -f "ftl_worker --config $work/kill.json" | tail -1)
kill -9 "$victim"
wait $run && fail "the run survived a killed rank" || true
done_at_kill=$(grep -o "\[stage1 r0\] [0-9]*/" "$work/kill.log" | tail -1 | sed 's/.* \([0-9]*\)\//\1/')
echo "killed rank $victim in stage 1 after iteration $done_at_kill"
check_all_load "$work/kill"
"${mpi[@]}" "$worker" --config "$work/kill.json" --threads 1 --resume "$work/kill" > "$work/kill_resume.log" 2>&1 \
  || { tail -20 "$work/kill_resume.log"; fail "resume after SIGKILL failed"; }
grep -q "resumed from .*ckpt-000001.ftlckpt" "$work/kill_resume.log" || fail "did not resume from the pretrain checkpoint"
grep -q '"finished": true' "$work/kill/summary.json" || fail "resumed run did not finish"
echo "progress lost to SIGKILL mid stage 1: $done_at_kill stage-1 iterations + UpdateStats (last checkpoint: after pre-training)"

# --- 2. SIGKILL one rank mid UpdateStats -------------------------------------------------------
# Right after the pre-training checkpoint is written, round 0's UpdateStats starts; at 192x192 it
# encodes 2 x 961 images for seconds. Its report line must not have appeared when the kill lands.
job "$work/kill_stats" 192 4 10 > "$work/kill_stats.json"
"${mpi[@]}" "$worker" --config "$work/kill_stats.json" --threads 1 > "$work/kill_stats.log" 2>&1 &
run=$!
for _ in $(seq 1200); do grep -q "wrote .*ckpt-000001" "$work/kill_stats.log" 2>/dev/null && break; sleep 0.05; done
grep -q "wrote .*ckpt-000001" "$work/kill_stats.log" || { cat "$work/kill_stats.log"; fail "the pre-training checkpoint never came"; }
sleep 1   # UpdateStats takes ~5 s here on 2 ranks: land the kill inside it
victim=$(pgrep -f "ftl_worker --config $work/kill_stats.json" | tail -1)
kill -9 "$victim"
wait $run && fail "the run survived a killed rank" || true
! grep -q "update_stats round 0: " "$work/kill_stats.log" || fail "UpdateStats had already finished when the kill landed"
check_all_load "$work/kill_stats"
"${mpi[@]}" "$worker" --config "$work/kill_stats.json" --threads 1 --resume "$work/kill_stats" > "$work/kill_stats_resume.log" 2>&1 \
  || { tail -20 "$work/kill_stats_resume.log"; fail "resume after SIGKILL mid UpdateStats failed"; }
grep -q "resumed from .*ckpt-000001.ftlckpt" "$work/kill_stats_resume.log" || fail "did not resume from the pretrain checkpoint"
grep -q '"finished": true' "$work/kill_stats/summary.json" || fail "resumed run did not finish"
full=$(grep -o "update_stats round 0: [0-9.]* s" "$work/kill_stats_resume.log" | head -1 | grep -o "[0-9.]* s")
echo "progress lost to SIGKILL mid UpdateStats: the ~1 s of UpdateStats done (it is recomputed from the pre-training checkpoint; a full one takes $full here)"

# --- 3. The checkpoint disk fills up ------------------------------------------------------------
size=$(stat -c %s "$(ls "$work/kill"/ckpt-*.ftlckpt | head -1)")
mkdir "$work/disk"
mount -t tmpfs -o size=$(( size * 3 / 2 / 1024 + 16 ))k tmpfs "$work/disk"
mounted="$work/disk"
job "$work/disk/out" > "$work/full.json"
set +e
"${mpi[@]}" "$worker" --config "$work/full.json" --threads 1 > "$work/full.log" 2>&1
code=$?
set -e
[[ $code != 0 ]] || fail "the worker did not notice the full disk"
grep -q "No space left" "$work/full.log" || { tail -20 "$work/full.log"; fail "the log does not say the disk is full"; }
[[ $(ls "$work/disk/out"/ckpt-*.ftlckpt | wc -l) == 1 ]] || fail "expected exactly the first checkpoint"
check_all_load "$work/disk/out"
lost=$(grep -o "\[stage2 r0\] [0-9]*/" "$work/full.log" | tail -1 | sed 's/.* \([0-9]*\)\//\1/')
echo "disk full at the round-0 checkpoint: worker exit $code; progress lost: one round (150 stage-1 + ${lost:-150} stage-2 iterations)"
mount -o remount,size=$(( size * 8 / 1024 ))k "$work/disk"   # the operator frees space
"${mpi[@]}" "$worker" --config "$work/full.json" --threads 1 --resume "$work/disk/out" > "$work/full_resume.log" 2>&1 \
  || { tail -20 "$work/full_resume.log"; fail "resume after the disk filled failed"; }
grep -q "resumed from .*ckpt-000001.ftlckpt" "$work/full_resume.log" || fail "did not resume from the good checkpoint"
grep -q '"finished": true' "$work/disk/out/summary.json" || fail "the job did not finish after space was freed"
check_all_load "$work/disk/out"
# --- 4. A stopped rank (alive, never answering) mid stage 2 -----------------------------------------
job "$work/stop" > "$work/stop.json"
sed -i 's/"keep_checkpoints": 5}/"keep_checkpoints": 5, "collective_timeout_seconds": 5}/' "$work/stop.json"
grep -q collective_timeout_seconds "$work/stop.json" || fail "could not set the timeout"
"${mpi[@]}" "$worker" --config "$work/stop.json" --threads 1 > "$work/stop.log" 2>&1 &
run=$!
for _ in $(seq 1200); do grep -q "\[stage2 r0\] [0-9]*/" "$work/stop.log" 2>/dev/null && break; sleep 0.05; done
grep -q "\[stage2 r0\] [0-9]*/" "$work/stop.log" || { cat "$work/stop.log"; fail "stage 2 never started"; }
victim=$(pgrep -f "ftl_worker --config $work/stop.json" | tail -1)
kill -STOP "$victim"
stopped_at=$(date +%s.%N)
for _ in $(seq 600); do kill -0 "$run" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$run" 2>/dev/null; then
  kill -CONT "$victim"; kill "$run"; fail "the job still hangs 60 s after a rank stopped"
fi
ended_at=$(date +%s.%N)
set +e; wait "$run"; code=$?; set -e
kill -9 "$victim" 2>/dev/null || true
[[ $code != 0 ]] || fail "the job ended with exit code 0 after a rank stopped"
grep -q "collective timeout: .* on rank [01] of 2 has waited" "$work/stop.log" \
  || { tail -20 "$work/stop.log"; fail "no collective-timeout message naming the operation and rank"; }
detection=$(python3 -c "print('%.1f' % ($ended_at - $stopped_at))")
echo "a rank SIGSTOPped mid stage 2: the job ended $detection s later (timeout 5 s, watchdog poll 1 s): $(grep -o 'collective timeout: [a-z() -]* on rank [0-9] of 2' "$work/stop.log" | head -1)"
check_all_load "$work/stop"
"${mpi[@]}" "$worker" --config "$work/stop.json" --threads 1 --resume "$work/stop" > "$work/stop_resume.log" 2>&1 \
  || { tail -20 "$work/stop_resume.log"; fail "resume after the stopped rank failed"; }
grep -q '"finished": true' "$work/stop/summary.json" || fail "resumed run did not finish"
echo PASS
