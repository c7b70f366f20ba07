#!/usr/bin/env bash
# Fine-tuning (model.init_from, issue 17): a model trained on 14 of Extended Yale B's identities
# starts a job on the other 13, 8 of them cut to 5 training images (under-represented); at the
# same budget it must reach a higher UR rank-1 on f than the same job trained from scratch. Both
# figures are printed. Then an export as safetensors starts a job, a TorchScript export (code) is
# refused, and a model of another input size is refused before training.
#   finetune_e2e_test.sh FTL WORKER DATA_ROOT
set -euo pipefail
ftl=$(realpath "$1") worker=$(realpath "$2") yale=$(realpath "$3")/yaleb-cropped
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
cd "$work"
ls "$yale" | grep yaleB | head -14 > first.txt
ls "$yale" | grep yaleB | tail -n +15 > second.txt
[[ $(wc -l < second.txt) == 13 ]] || fail "expected 27 identities"
"$ftl" split --data "$yale" --train_list first.txt --out split1 --regular 14 --ur_images 0 --holdout 0 \
  --validation 0 > /dev/null
"$ftl" split --data "$yale" --train_list second.txt --out split2 --regular 5 --ur_images 5 --holdout 10 \
  --validation 0 > /dev/null
job() {  # job FILE SPLIT PRETRAIN [INIT_FROM] [INPUT_SIZE]
  cat > "$1" <<JSON
{"name": "$1", "model": {"preset": "small", "input_size": ${5:-32}, "init_from": "${4:-}"},
 "data": {"path": "$yale", "manifest": "$work/$2/train.txt", "regular_identities": "$work/$2/regular.txt"},
 "training": {"batch_size": 32, "pretrain_iterations": $3, "rounds": 1, "stage_iterations": 40,
              "pretrain_lr": 0.002, "stage1_lr": 0.0001, "stage2_lr": 0.0001, "seed": 3},
 "evaluation": {"holdout_manifest": "$work/$2/holdout.txt"},
 "runtime": {"output_dir": "$work/out-${1%.json}"}}
JSON
}
job first.json split1 300
"$worker" --config first.json --threads 2 > first.log 2>&1 || { tail first.log; fail "training on the first half"; }
job scratch.json split2 100
job tuned.json split2 100 "$work/out-first"
"$worker" --config scratch.json --threads 2 > scratch.log 2>&1 || { tail scratch.log; fail "from scratch"; }
"$worker" --config tuned.json --threads 2 > tuned.log 2>&1 || { tail tuned.log; fail "fine-tuned"; }
grep -q "model.init_from: Enc, Dec, R from .*out-first; a fresh classifier" tuned.log || fail "init_from not logged"
/usr/bin/python3 - <<'PY' || fail "fine-tuning did not beat training from scratch"
import json
def ur(path):
    s = json.load(open(path))
    return [p for p in s["phases"] if p["phase"] == "evaluate"][-1]["metrics"]["holdout_rank1_ur_f"]
scratch, tuned = ur("out-scratch/summary.json"), ur("out-tuned/summary.json")
print("UR rank-1 on f, 13 new identities (8 UR, 5 images each), same budget: from scratch %.3f, "
      "fine-tuned from the other 14 identities %.3f" % (scratch, tuned))
assert tuned > scratch
PY
echo "--- init_from an export: safetensors (weights) is taken, a TorchScript module (code) refused"
"$ftl" export --checkpoint out-first --out first.pt > /dev/null
"$ftl" export --checkpoint out-first --out first.safetensors --format safetensors > /dev/null
job from_weights.json split2 10 "$work/first.safetensors"
"$worker" --config from_weights.json --threads 2 > from_weights.log 2>&1 || { tail from_weights.log; fail "init_from safetensors"; }
grep -q "model.init_from: Enc, R (Dec fresh: an export holds no decoder) from .*first.safetensors" from_weights.log ||
  { tail from_weights.log; fail "init_from safetensors not logged"; }
job from_module.json split2 10 "$work/first.pt"
set +e
"$worker" --config from_module.json --threads 2 > from_module.log 2>&1; code=$?
set -e
[[ $code != 0 ]] && grep -q "is a TorchScript module, which is code" from_module.log ||
  { tail from_module.log; fail "init_from a TorchScript module was not refused (exit $code)"; }
[[ ! -e out-from_module/summary.json ]] || fail "a refused init_from trained anyway"
job wrong.json split2 100 "$work/out-first" 64
set +e
"$worker" --config wrong.json --threads 2 > wrong.log 2>&1; code=$?
set -e
[[ $code != 0 ]] && grep -q "model.init_from: .* other layers" wrong.log || { tail wrong.log; fail "a 32x32 model started a 64x64 job"; }
echo PASS
