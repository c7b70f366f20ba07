#!/usr/bin/env bash
# Installs what the build needs (Debian 12 packages) and builds everything into build/.
# Safe to run again: installs only what is missing, rebuilds only what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential cmake ninja-build pkg-config git python3
  libtorch-dev libopenmpi-dev openmpi-bin libabsl-dev libopencv-dev
  libprotobuf-dev protobuf-compiler zlib1g-dev libjpeg-dev libgtest-dev libgmock-dev
  libgrpc++-dev protobuf-compiler-grpc prometheus-cpp-dev libsqlite3-dev
  prometheus curl procps slurm-wlm munge python3-venv python3-matplotlib dataset-fashion-mnist
  clang libclang-rt-14-dev clang-format python3-torch
  # OpenBLAS as the system's libblas.so.3/liblapack.so.3, which Debian's LibTorch links: the
  # reference BLAS it gets otherwise runs the FC product ~10-50x slower (docs/performance.md).
  libopenblas0-pthread
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=()
  [[ $(id -u) == 0 ]] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -q
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# One Python for every documented Python step: build/venv, made from Debian's /usr/bin/python3 with
# its site packages (python3-torch, numpy), plus PyPI's onnxruntime (to run `ftl export --format
# onnx` files), safetensors (the reference for our safetensors files) and kubernetes-validate (the
# deploy checks). Debian's python3 is externally managed, hence the venv; `python3` on PATH may be
# another interpreter without torch. A venv made otherwise by an earlier setup is made again.
if [[ -f build/venv/pyvenv.cfg ]] && ! grep -q "include-system-site-packages = true" build/venv/pyvenv.cfg; then
  rm -rf build/venv
fi
if [[ ! -x build/venv/bin/kubernetes-validate ]]; then
  /usr/bin/python3 -m venv --system-site-packages build/venv
  build/venv/bin/pip install -q "kubernetes-validate==1.37.0"
fi
if ! build/venv/bin/python -c "import torch, numpy" 2> /dev/null; then
  echo "setup: build/venv does not see Debian's python3-torch and numpy" >&2
  exit 1
fi
if ! build/venv/bin/python -c "import onnxruntime" 2> /dev/null; then
  build/venv/bin/pip install -q "onnxruntime==1.32.0"
fi
# Hugging Face's safetensors: the reference our safetensors files are checked against.
if ! build/venv/bin/python -c "import safetensors" 2> /dev/null; then
  build/venv/bin/pip install -q "safetensors==0.7.0"
fi
# gRPC for Python: the Python client (clients/python), whose stubs the build generates with
# grpcio-tools.
if ! build/venv/bin/python -c "import grpc, grpc_tools" 2> /dev/null; then
  build/venv/bin/pip install -q "grpcio==1.76.0" "grpcio-tools==1.76.0"
fi

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFTL_BUILD_TESTS=ON
# Two jobs at most: the LibTorch headers make each compile use about 1.5 GiB.
cmake --build build -j "${FTL_BUILD_JOBS:-2}"
