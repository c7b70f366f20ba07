#!/usr/bin/env bash
# One of arcface_torch's backbones end to end through the documented CLI: ftl_worker trains it
# (a small input, a few steps) on real faces, `ftl export` writes its TorchScript module, and
# scripts/iresnet_reference.py puts the exported weights into arcface_torch's layout of that
# backbone written in PyTorch (Debian's torch) and requires the same embeddings and parameter
# count. Also that the reference's iresnet18/34/50/100 and mobilefacenet parameter counts are the
# ones backbone_test expects, and that a job asking the backbone to reconstruct is refused.
#   backbone_export_test.sh SOURCE_DIR BUILD_DIR DATA_ROOT [BACKBONE [INPUT_SIZE]]
# (default iresnet18 at 16x16; CTest: iresnet_export_end_to_end, mobilefacenet_export_end_to_end)
set -euo pipefail
source_dir=$1 build_dir=$2 data_root=$3 backbone=${4:-iresnet18} input_size=${5:-16}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

counts=$(/usr/bin/python3 "$source_dir/scripts/iresnet_reference.py" counts)
expected=$'iresnet18 24025600\niresnet34 34139328\niresnet50 43590848\niresnet100 65156160\nmobilefacenet 2059520'
[[ $counts == "$expected" ]] || { echo "FAIL: reference counts changed:"; echo "$counts"; exit 1; }

cat > "$work/job.json" <<JSON
{"name": "$backbone-export", "model": {"backbone": "$backbone", "input_size": $input_size},
 "data": {"path": "$data_root/yaleb-cropped", "max_classes": 4},
 "loss": {"head": "cosface"},
 "training": {"method": "softmax", "batch_size": 8, "pretrain_iterations": 3,
              "optimizer": {"type": "sgd", "weight_decay": 5e-4, "schedule": "poly",
                            "warmup_iterations": 1}, "pretrain_lr": 0.01},
 "runtime": {"output_dir": "$work/out", "progress_seconds": 0}}
JSON
"$build_dir/services/worker/ftl_worker" --config "$work/job.json" > "$work/worker.log" 2>&1 ||
  { cat "$work/worker.log"; exit 1; }
grep -q 'recon' "$work/worker.log" && { echo "FAIL: a reconstruction term without a decoder"; exit 1; }
"$build_dir/services/cli/ftl" export --checkpoint "$work/out" --out "$work/g.pt" --features g
"$build_dir/services/cli/ftl" export --checkpoint "$work/out" --out "$work/f.pt" --features f
/usr/bin/python3 "$source_dir/scripts/iresnet_reference.py" compare "$work/g.pt" "$backbone" \
  "$input_size" 512
# A config that asks the backbone to reconstruct is refused, naming the field.
sed 's/"head": "cosface"/"head": "cosface", "alpha_recon": 1/' "$work/job.json" > "$work/bad.json"
if "$build_dir/services/worker/ftl_worker" --config "$work/bad.json" > "$work/bad.log" 2>&1; then
  echo "FAIL: alpha_recon with $backbone was accepted"; exit 1
fi
grep -q "loss.alpha_recon: must be 0 with model.backbone $backbone" "$work/bad.log" ||
  { cat "$work/bad.log"; exit 1; }
echo PASS
