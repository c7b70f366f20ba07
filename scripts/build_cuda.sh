#!/usr/bin/env bash
# Compiles and links every target against a CUDA LibTorch (PyPI's torch wheel, in a venv) into
# build-cuda/, so the GPU path (NCCL communicator, CUDA devices, bf16 autocast) keeps compiling on
# machines without a GPU. Nothing is run. Needs the CUDA toolkit (nvcc) at $CUDA_HOME
# (default /usr/local/cuda); the first run downloads torch (~2 GB with its CUDA libraries).
set -euo pipefail
cd "$(dirname "$0")/.."
cuda=${CUDA_HOME:-/usr/local/cuda}
[[ -x $cuda/bin/nvcc ]] || { echo "build_cuda: no CUDA toolkit at $cuda (set CUDA_HOME)"; exit 1; }
venv=${FTL_TORCH_CUDA_VENV:-/opt/ftl/torch-cuda}
torch_version=2.15.0
if ! "$venv/bin/python" -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '$torch_version')" 2>/dev/null; then
  echo "build_cuda: installing torch==$torch_version (CUDA) into $venv"
  mkdir -p "$(dirname "$venv")"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "torch==$torch_version"
fi
torch_root=$("$venv/bin/python" -c 'import os, torch; print(os.path.dirname(torch.__file__))' 2>/dev/null)
export PATH=$cuda/bin:$PATH
mkdir -p build-cuda
cmake -S . -B build-cuda -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFTL_BUILD_TESTS=OFF \
  -DCMAKE_PREFIX_PATH="$torch_root;$torch_root/share/cmake" -DCUDAToolkit_ROOT="$cuda" > build-cuda/configure.log 2>&1 ||
  { tail -40 build-cuda/configure.log; exit 1; }
grep -q "FTL: CUDA build" build-cuda/configure.log || { echo "build_cuda: LibTorch in $venv has no CUDA"; exit 1; }
cmake --build build-cuda -j "${FTL_BUILD_JOBS:-2}"
echo "build_cuda: every target compiled and linked against CUDA LibTorch $torch_version with NCCL"
