#!/usr/bin/env bash
# An IResNet job end to end through the documented CLI: ftl_worker trains iresnet18 (16x16 input,
# a few steps) on real faces, `ftl export` writes its TorchScript module, and
# scripts/iresnet_reference.py puts the exported weights into arcface_torch's IResNet written in
# PyTorch (Debian's torch) and requires the same embeddings and parameter count. Also that the
# reference's iresnet18/34/50/100 parameter counts are the ones backbone_test expects.
#   iresnet_export_test.sh SOURCE_DIR BUILD_DIR DATA_ROOT
set -euo pipefail
source_dir=$1 build_dir=$2 data_root=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

counts=$(/usr/bin/python3 "$source_dir/scripts/iresnet_reference.py" counts)
expected=$'iresnet18 24025600\niresnet34 34139328\niresnet50 43590848\niresnet100 65156160'
[[ $counts == "$expected" ]] || { echo "FAIL: reference counts changed:"; echo "$counts"; exit 1; }

cat > "$work/job.json" <<JSON
{"name": "iresnet-export", "model": {"backbone": "iresnet18", "input_size": 16},
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
/usr/bin/python3 "$source_dir/scripts/iresnet_reference.py" compare "$work/g.pt" 2,2,2,2 16 512
# A config that asks an IResNet to reconstruct is refused, naming the field.
sed 's/"head": "cosface"/"head": "cosface", "alpha_recon": 1/' "$work/job.json" > "$work/bad.json"
if "$build_dir/services/worker/ftl_worker" --config "$work/bad.json" > "$work/bad.log" 2>&1; then
  echo "FAIL: alpha_recon with an IResNet was accepted"; exit 1
fi
grep -q 'loss.alpha_recon: must be 0 with model.backbone iresnet18' "$work/bad.log" ||
  { cat "$work/bad.log"; exit 1; }
echo PASS
