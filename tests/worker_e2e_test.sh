#!/usr/bin/env bash
# End to end: `mpirun -np 2 ftl_worker` on a Yale B split at 32x32 (27 identities, 13 cut to 5
# images, one corrupt image added) runs every phase, writes checkpoints and summary.json, and stage 1 moves
# the UR classifier weight norms toward the regular ones. Then: a corrupt newest checkpoint is
# skipped on resume, another run's checkpoint is refused, the classifier sharded across 3 ranks
# resumes the run, and bad configs exit with code 2 naming the field.
set -euo pipefail
worker=$1
mpiexec=$2
data_root=$3
yale="$data_root/yaleb-cropped"
[[ -d $yale ]] || { echo "FAIL: $yale not found"; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# A copy, so the test can add a corrupt image without touching the shared data.
mkdir -p "$work/faces"
for id in $(ls "$yale" | grep yaleB); do cp -r "$yale/$id" "$work/faces/$id"; done
echo "not a pgm" > "$work/faces/$(ls "$work/faces" | head -1)/zz_corrupt.pgm"

cat > "$work/job.json" <<JSON
{
  "name": "e2e",
  "model": {"preset": "small", "input_size": 32},
  "data": {"path": "$work/faces", "cut_classes": 13, "cut_to_images": 5},
  "training": {"batch_size": 16, "pretrain_iterations": 150, "rounds": 1, "stage_iterations": 30,
               "pretrain_lr": 0.002, "stage1_lr": 0.0001, "stage2_lr": 0.0001},
  "runtime": {"output_dir": "$work/out", "progress_seconds": 2}
}
JSON

mpi=("$mpiexec" --oversubscribe -np 2)
"${mpi[@]}" "$worker" --config "$work/job.json" --threads 1 > "$work/log" 2>&1 ||
  { cat "$work/log"; fail "worker exited with $?"; }
cat "$work/log"

ls "$work/out"/ckpt-*.ftlckpt > /dev/null || fail "no checkpoint written"
[[ $(head -1 "$work/out/weight_norms.csv") == "class,images,regular,weight_norm" ]] || fail "weight_norms.csv header"
[[ $(tail -n +2 "$work/out/weight_norms.csv" | wc -l) == 27 ]] || fail "weight_norms.csv rows"
[[ $(awk -F, 'NR > 1 && $3 == 0' "$work/out/weight_norms.csv" | wc -l) == 13 ]] || fail "weight_norms.csv UR rows"
[[ $(grep -c "skipped: .*zz_corrupt.pgm" "$work/log") == 1 ]] || fail "corrupt image not reported exactly once"
grep -q "\[pretrain\] .* img/s .* ETA" "$work/log" || fail "no progress line"

python3 - "$work/out/summary.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
def check(cond, what):
    if not cond:
        print("FAIL:", what); sys.exit(1)
phases = [p["phase"] for p in s["phases"]]
check(phases == ["pretrain", "checkpoint", "update_stats", "stage1", "stage2", "evaluate",
                 "checkpoint"], "phases in order: %s" % phases)
check(s["finished"] is True, "finished")
check(s["world_size"] == 2, "two ranks")
check(int(s["skipped_images"]) == 1, "one skipped image")
check(s["num_classes"] == 27 and s["num_ur_classes"] == 13, "27 classes, 13 UR")
stats = s["phases"][2]["metrics"]
check(stats["hard_samples"] > 0 and stats["pca_components"] >= 1, "statistics computed")
m = s["phases"][3]["metrics"]
before, after = m["ur_regular_norm_ratio_before"], m["ur_regular_norm_ratio_after"]
print("UR/regular classifier weight-norm ratio in stage 1: before %.3f after %.3f" % (before, after))
check(before < 1.0, "pre-training leaves UR weight norms below the regular ones")
check(abs(after - 1) < abs(before - 1), "stage 1 moves UR norms toward the regular ones")
PY

# Resume: the newest checkpoint is damaged, so the worker must fall back to the older one.
newest=$(ls "$work/out"/ckpt-*.ftlckpt | tail -1)
truncate -s 1000 "$newest"
"${mpi[@]}" "$worker" --config "$work/job.json" --threads 1 --resume "$work/out" > "$work/resume.log" 2>&1 ||
  { cat "$work/resume.log"; fail "resume failed"; }
grep -q "skipping checkpoint: .*truncated" "$work/resume.log" || fail "damaged checkpoint not reported"
grep -q "resumed from .*ckpt-000001.ftlckpt at schedule position 2" "$work/resume.log" ||
  { cat "$work/resume.log"; fail "did not resume from the older checkpoint"; }
grep -q "stage1 round 0" "$work/resume.log" || fail "resumed run did not train"
python3 - "$work/out/summary.json" <<'PY'
import json, sys
phases = [p["phase"] for p in json.load(open(sys.argv[1]))["phases"]]
# The phases after the resume point were run again: each is reported once.
if phases != ["pretrain", "checkpoint", "update_stats", "stage1", "stage2", "evaluate", "checkpoint"]:
    print("FAIL: phases after the resume:", phases); sys.exit(1)
PY

# Resume of another run (the same folder, another recipe): refused naming the setting, nothing
# trained.
sed 's/"stage1_lr": 0.0001/"stage1_lr": 0.0003/' "$work/job.json" > "$work/other_run.json"
code=0
"$worker" --config "$work/other_run.json" --threads 1 --resume "$work/out" > "$work/other.log" 2>&1 || code=$?
[[ $code == 2 ]] || { cat "$work/other.log"; fail "another run's checkpoint: exit code $code, want 2 (not retried)"; }
grep -q "training.stage1_lr: 0.0001 in the checkpoint, 0.0003 in this job" "$work/other.log" ||
  { cat "$work/other.log"; fail "the refusal does not name the differing setting"; }
! grep -q "resumed from" "$work/other.log" || fail "resumed from another run's checkpoint"
# ... unless the change is deliberate.
"$worker" --config "$work/other_run.json" --threads 1 --resume "$work/out" --resume_despite_changes \
  > "$work/changed.log" 2>&1 || { cat "$work/changed.log"; fail "--resume_despite_changes failed"; }
grep -q "despite 1 changed setting(s) (--resume_despite_changes): training.stage1_lr" "$work/changed.log" ||
  { cat "$work/changed.log"; fail "the deliberate change is not logged"; }

# The classifier sharded across 3 ranks (Partial FC) resumes the replicated 2-rank run: the
# checkpoint holds the whole classifier, each rank takes its rows (27 = 9 + 9 + 9 classes), the
# rounds train and the checkpoint it writes again holds all 27 rows.
# (The replicated run's first checkpoint, after pre-training, in a folder of its own.)
mkdir "$work/sharded_out" && cp "$work/out/ckpt-000001.ftlckpt" "$work/sharded_out/"
sed -e 's/"input_size": 32}/"input_size": 32, "classifier_sharding": "sharded"}/' \
  -e "s#\"$work/out\"#\"$work/sharded_out\"#" "$work/job.json" > "$work/sharded.json"
grep -q '"classifier_sharding": "sharded"' "$work/sharded.json" || fail "sharded config not made"
grep -q "sharded_out" "$work/sharded.json" || fail "sharded config's output folder not set"
"$mpiexec" --oversubscribe -np 3 "$worker" --config "$work/sharded.json" --threads 1 --resume "$work/sharded_out" \
  > "$work/sharded.log" 2>&1 || { cat "$work/sharded.log"; fail "sharded resume on 3 ranks failed"; }
grep -q "resumed from .*ckpt-000001.ftlckpt at schedule position 2" "$work/sharded.log" ||
  { cat "$work/sharded.log"; fail "the sharded run did not resume the replicated one"; }
grep -q "stage1 round 0" "$work/sharded.log" || fail "the sharded run did not train"
[[ $(tail -n +2 "$work/sharded_out/weight_norms.csv" | wc -l) == 27 ]] || fail "sharded weight_norms.csv rows"
python3 - "$work/sharded_out/summary.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
if not s["finished"] or s["world_size"] != 3:
    print("FAIL: sharded run: finished", s["finished"], "world size", s["world_size"]); sys.exit(1)
PY
# Fewer identities than ranks: refused before any work, naming the field.
sed 's/"cut_classes": 13, "cut_to_images": 5}/"max_classes": 2}/' "$work/sharded.json" > "$work/few.json"
grep -q '"max_classes": 2}' "$work/few.json" || fail "2-identity config not made"
code=0
"$mpiexec" --oversubscribe -np 3 "$worker" --config "$work/few.json" --threads 1 > "$work/few.log" 2>&1 || code=$?
[[ $code != 0 ]] || fail "2 identities on 3 sharded ranks: accepted"
grep -q 'model.classifier_sharding: "sharded" gives every rank at least one identity; the data has 2 identities for 3 ranks' \
  "$work/few.log" || { cat "$work/few.log"; fail "2 identities on 3 ranks: the error does not name the field"; }
! grep -q "\[pretrain\]" "$work/few.log" || fail "2 identities on 3 ranks: trained before refusing"

# Bad configs: exit code 2, message naming the field, before any work.
expect_refused() {  # expect_refused CONFIG PATTERN
  local code=0
  "$worker" --config "$1" > "$1.log" 2>&1 || code=$?
  [[ $code == 2 ]] || fail "$1: exit code $code, want 2"
  grep -q "$2" "$1.log" || fail "$1: message does not match '$2': $(cat "$1.log")"
}
sed 's/"batch_size": 16/"batch_size": -3/' "$work/job.json" > "$work/bad.json"
expect_refused "$work/bad.json" "training.batch_size"
sed "s#$work/faces#$work/no-such-folder#" "$work/job.json" > "$work/missing.json"
expect_refused "$work/missing.json" "data.path: .*does not exist"
echo "PASS"
