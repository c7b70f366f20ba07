#!/usr/bin/env bash
# The GPU path end to end on one rank (issue 15 item 7): pre-training, UpdateStats, stage 1,
# stage 2, the evaluate phase with hold-out probes (rank-1, Coverage@P.99) and verification pairs,
# checkpoints, a resume that continues the schedule, and `ftl eval` (figures and Fig. 6-8 pictures
# from the GPU-written checkpoint, on the CPU) — with bf16 autocast and in fp32. A person runs it
# on a GPU machine; it takes a few minutes on one H200 after the build.
#   tests/gpu_smoke.sh [BUILD_DIR]           default build-gpu/ (configured against the CUDA
#                                            LibTorch of $PYTHON's torch if it has no ftl_worker)
#   DEVICE=cpu tests/gpu_smoke.sh build      the same script on the CPU (CI runs it this way, so
#                                            it keeps working where no GPU is)
# DATA_ROOT (default ../shared/data) must hold yaleb-cropped/. PRETRAIN, STAGE, INPUT_SIZE and
# IRESNET_INPUT (default 200, 50, 64, 112) size the runs (CI uses less). Prints "ok: ..." lines and PASS.
set -euo pipefail
cd "$(dirname "$0")/.."
device=${DEVICE:-cuda}
pretrain=${PRETRAIN:-200} stage=${STAGE:-50} input_size=${INPUT_SIZE:-64}
IRESNET_INPUT=${IRESNET_INPUT:-112}  # the iresnet18 run's input side (CI: 16)
build=${1:-build-gpu}
data_root=$(realpath "${DATA_ROOT:-../shared/data}")
yale="$data_root/yaleb-cropped"
[[ -d $yale ]] || { echo "FAIL: $yale not found (set DATA_ROOT)"; exit 1; }
start=$(date +%s)
if [[ ! -x $build/services/worker/ftl_worker ]]; then
  bash scripts/configure_cuda_torch.sh "$build" -DFTL_BUILD_TESTS=OFF
  cmake --build "$build" -j "$(nproc)" --target ftl_worker ftl_tools ftl
  echo "build_seconds: $(( $(date +%s) - start ))"
fi
worker=$(realpath "$build/services/worker/ftl_worker")
ftl=$(realpath "$build/services/cli/ftl")
[[ $device == cuda ]] && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | sed 's/^/gpu: /'
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; [[ -f $work/log ]] && tail -30 "$work/log"; exit 1; }

"$ftl" split --data "$yale" --out "$work/split" --regular 14 --ur_images 5 --holdout 10 --validation 0 > /dev/null
"$ftl" pairs --data "$yale" --manifest "$work/split/holdout.txt" --out "$work/pairs.txt" --folds 5 > /dev/null

write_config() {  # write_config FILE BF16 ROUNDS
  cat > "$1" <<JSON
{"name": "gpu-smoke", "model": {"preset": "small", "input_size": $input_size},
 "data": {"path": "$yale", "manifest": "$work/split/train.txt", "regular_identities": "$work/split/regular.txt"},
 "training": {"batch_size": 64, "pretrain_iterations": $pretrain, "rounds": $3, "stage_iterations": $stage,
              "pretrain_lr": 0.002, "stage1_lr": 0.0001, "stage2_lr": 0.0001,
              "checkpoint_every_rounds": 1, "evaluate_every_rounds": 1},
 "evaluation": {"holdout_manifest": "$work/split/holdout.txt", "pairs_path": "$work/pairs.txt"},
 "runtime": {"device": "$device", "bf16_autocast": $2, "progress_seconds": 10}}
JSON
}

for precision in bf16 fp32; do
  bf16=$([[ $precision == bf16 ]] && echo true || echo false)
  out="$work/out-$precision"
  write_config "$work/$precision.json" "$bf16" 1
  t0=$(date +%s)
  "$worker" --config "$work/$precision.json" --output "$out" --threads 4 > "$work/log" 2>&1 ||
    fail "$precision: worker exited with $?"
  grep -q "device: $device" "$work/log" || fail "$precision: not run on $device"
  python3 - "$out/summary.json" "$precision" <<'PY' || fail "$precision: summary.json"
import json, math, sys
s = json.load(open(sys.argv[1]))
phases = [p["phase"] for p in s["phases"]]
want = ["pretrain", "checkpoint", "update_stats", "stage1", "stage2", "evaluate", "checkpoint"]
assert phases == want, phases
assert s["finished"] is True
losses = [v for p in s["phases"] for v in p.get("losses", {}).values()]
assert losses and all(math.isfinite(v) for v in losses), "non-finite loss"
m = s["phases"][5]["metrics"]
for key in ("holdout_rank1_regular_f", "holdout_rank1_ur_f", "holdout_coverage_p99_ur", "verif_acc_f"):
    assert key in m and math.isfinite(m[key]), key
assert m["holdout_rank1_regular_f"] > 0.3, m["holdout_rank1_regular_f"]  # it learned something
print("ok: %s: %s; regular rank-1 f %.3f, UR %.3f, verification %.3f" % (
    sys.argv[2], " ".join(phases), m["holdout_rank1_regular_f"], m["holdout_rank1_ur_f"], m["verif_acc_f"]))
PY
  echo "ok: $precision run took $(( $(date +%s) - t0 )) s"
  # Resume: a second round from the newest checkpoint continues the schedule, not restarts it.
  write_config "$work/$precision-2.json" "$bf16" 2
  "$worker" --config "$work/$precision-2.json" --output "$out" --resume "$out" --threads 4 > "$work/log" 2>&1 ||
    fail "$precision: resume exited with $?"
  grep -q "resumed from .*ckpt-000006.ftlckpt at schedule position 7/12" "$work/log" ||
    fail "$precision: did not resume from the first run's last checkpoint"
  ! grep -q "^.*\[pretrain\]" "$work/log" || fail "$precision: the resumed run pre-trained again"
  python3 - "$out/summary.json" <<'PY' || fail "$precision: resumed summary.json"
import json, sys
s = json.load(open(sys.argv[1]))
phases = [p["phase"] for p in s["phases"]]
round1 = [p["phase"] for p in s["phases"] if p.get("round") == 1]
assert round1 == ["update_stats", "stage1", "stage2", "evaluate", "checkpoint"], phases
assert s["finished"] is True
print("ok: resumed at round 1: " + " ".join(round1))
PY
done

# arcface_torch's recipe on the device: iresnet18 (channels-last, batch norm) + ArcFace + SGD with
# a poly schedule and clipping, random flips, bf16: every phase, finite losses, then an export that
# loads and embeds on the CPU.
cat > "$work/iresnet.json" <<JSON
{"name": "gpu-smoke-iresnet", "model": {"backbone": "iresnet18", "input_size": $IRESNET_INPUT},
 "data": {"path": "$yale", "manifest": "$work/split/train.txt", "regular_identities": "$work/split/regular.txt",
          "random_flip": true},
 "loss": {"head": "arcface"},
 "training": {"batch_size": 64, "pretrain_iterations": $pretrain, "rounds": 1, "stage_iterations": $stage,
              "pretrain_lr": 0.1, "stage1_lr": 0.01, "stage2_lr": 0.01,
              "optimizer": {"type": "sgd", "weight_decay": 5e-4, "schedule": "poly", "clip_grad_norm": 5},
              "pretrain_optimizer": {"warmup_iterations": 10}},
 "evaluation": {"holdout_manifest": "$work/split/holdout.txt", "pairs_path": "$work/pairs.txt"},
 "runtime": {"device": "$device", "bf16_autocast": true, "progress_seconds": 10}}
JSON
t0=$(date +%s)
"$worker" --config "$work/iresnet.json" --output "$work/out-iresnet" --threads 4 > "$work/log" 2>&1 ||
  fail "iresnet18: worker exited with $?"
python3 - "$work/out-iresnet/summary.json" <<'PY' || fail "iresnet18: summary.json"
import json, math, sys
s = json.load(open(sys.argv[1]))
phases = [p["phase"] for p in s["phases"]]
assert phases == ["pretrain", "checkpoint", "update_stats", "stage1", "stage2", "evaluate", "checkpoint"], phases
losses = [v for p in s["phases"] for v in p.get("losses", {}).values()]
assert losses and all(math.isfinite(v) for v in losses), "non-finite loss"
assert not any("recon" in p.get("losses", {}) for p in s["phases"]), "a reconstruction term without a decoder"
m = s["phases"][5]["metrics"]
print("ok: iresnet18 + ArcFace + SGD: %s; regular rank-1 f %.3f, UR %.3f, verification %.3f" % (
    " ".join(phases), m["holdout_rank1_regular_f"], m["holdout_rank1_ur_f"], m["verif_acc_f"]))
PY
"$ftl" export --checkpoint "$work/out-iresnet" --out "$work/iresnet.pt" > /dev/null || fail "iresnet18: export"
"$ftl" embed --model "$work/iresnet.pt" --data "$yale" --out "$work/embeddings" > /dev/null ||
  fail "iresnet18: embed with the exported module"
echo "ok: iresnet18 run, export and embed took $(( $(date +%s) - t0 )) s"
# ftl eval on the CPU from the checkpoint the GPU wrote: figures and pictures.
"$ftl" eval --config "$work/bf16.json" --checkpoint "$work/out-bf16" --out "$work/eval" > "$work/log" 2>&1 ||
  fail "ftl eval exited with $?"
for f in eval.json fig7_transfer.png; do
  [[ -s $work/eval/$f ]] || fail "ftl eval wrote no $f ($(ls "$work/eval" | tr '\n' ' '))"
done
echo "ok: ftl eval: $(ls "$work/eval" | tr '\n' ' ')"
echo "total_seconds: $(( $(date +%s) - start ))"
echo PASS
