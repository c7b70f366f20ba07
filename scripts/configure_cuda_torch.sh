#!/usr/bin/env bash
# Configures BUILD_DIR against the CUDA LibTorch of $PYTHON's torch (PyPI's CUDA wheel), for the
# GPU scripts (tests/gpu_smoke.sh, bench/gpu/run.sh). Fails unless CMake finds a CUDA LibTorch.
#   scripts/configure_cuda_torch.sh BUILD_DIR [extra cmake arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
build=$1; shift
python=${PYTHON:-python3}
prefix=$("$python" -c 'import torch; print(torch.utils.cmake_prefix_path)')
torch_root=$("$python" -c 'import os, torch; print(os.path.dirname(torch.__file__))')
mkdir -p "$build"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$torch_root;$prefix" "$@" \
  > "$build/configure.log" 2>&1 || { tail -40 "$build/configure.log"; exit 1; }
grep -q "FTL: CUDA build" "$build/configure.log" || { echo "not a CUDA LibTorch: $prefix"; exit 1; }
