#!/usr/bin/env bash
# GPU benchmarks (one node): builds against the machine's CUDA LibTorch and prints "name: value"
# lines. Target: under 8 minutes on one H200.
#   bench/gpu/run.sh [BUILD_DIR]      default build-gpu/
# Needs: cmake, ninja, a C++17 compiler, the Debian -dev packages of scripts/setup.sh, nvcc, and a
# Python whose torch has CUDA (PyPI's wheel). Measures, for the `paper` preset (100x100x3, D 320):
#   step images/s and model-FLOP utilisation with bf16 autocast (and fp32 for comparison), the
#   same for iresnet50 + ArcFace + SGD (target: MFU >= 40% of the GPU's bf16 peak),
#   UpdateStats time vs its encoder passes, NCCL all-reduce at our bucket sizes (1, 4, 25, 100 MB;
#   needs 2+ GPUs: with one, only the single-rank time is printed, as nothing crosses a link).
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build-gpu}
start=$(date +%s)
bash scripts/configure_cuda_torch.sh "$build" -DFTL_BUILD_TESTS=OFF
cmake --build "$build" -j "$(nproc)" --target ftl_bench
echo "build_seconds: $(( $(date +%s) - start ))"
bench=$build/bench/ftl_bench
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | sed 's/^/gpu: /'
gpus=$(nvidia-smi -L | wc -l)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

echo "== step, paper preset, bf16 autocast"
"$bench" step --device cuda --preset paper --batch 256 --classes 1000 --images_per_class 8 \
  --iterations 50 --warmup 10 --threads 4 --bf16=true | sed 's/^/bf16_/'
echo "== step, paper preset, fp32"
"$bench" step --device cuda --preset paper --batch 256 --classes 1000 --images_per_class 8 \
  --iterations 30 --warmup 5 --threads 4 --bf16=false | sed 's/^/fp32_/'
echo "== step, iresnet50 + ArcFace + SGD (arcface_torch's recipe), bf16 autocast (target mfu >= 0.40)"
"$bench" step --device cuda --preset iresnet50 --head arcface --optimizer sgd --batch 256 --classes 1000 \
  --images_per_class 4 --iterations 30 --warmup 10 --threads 4 --bf16=true | sed 's/^/iresnet50_bf16_/'
echo "== update_stats, paper preset (8000 images)"
"$bench" update_stats --device cuda --preset paper --classes 1000 --images_per_class 8 --threads 4
echo "== NCCL all-reduce"
ranks=$(( gpus > 1 ? gpus : 1 ))
for mb in 1 4 25 100; do
  if (( ranks > 1 )); then
    mpirun --oversubscribe -np "$ranks" "$bench" allreduce --device cuda --megabytes "$mb" | sed "s/^/allreduce_${mb}mb_/"
  else
    "$bench" allreduce --device cuda --megabytes "$mb" | sed "s/^/allreduce_${mb}mb_/"
  fi
done
echo "total_seconds: $(( $(date +%s) - start ))"
