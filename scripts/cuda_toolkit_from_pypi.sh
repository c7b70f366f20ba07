#!/usr/bin/env bash
# Assembles the CUDA 13.0 toolkit that scripts/build_cuda.sh compiles with (nvcc, headers, the
# CUDA libraries, cuDNN, NCCL) from NVIDIA's wheels on PyPI, into PREFIX (default
# /usr/local/cuda-13.0, linked from /usr/local/cuda): the versions this project's machines build
# with. For deploy/Dockerfile.cuda and for machines without NVIDIA's apt repository.
#   bash scripts/cuda_toolkit_from_pypi.sh [PREFIX]
set -euo pipefail
prefix=${1:-/usr/local/cuda-13.0}
python=${PYTHON:-/usr/bin/python3}
wheels=(
  nvidia-cuda-nvcc==13.0.88 nvidia-cuda-crt==13.0.88 nvidia-nvvm==13.0.88
  nvidia-cuda-cccl==13.0.85 nvidia-cuda-runtime==13.0.96 nvidia-cuda-nvrtc==13.0.88
  nvidia-cuda-cupti==13.0.85 nvidia-cuda-culibos==13.0.85 nvidia-cuda-cuxxfilt==13.0.85
  nvidia-cuda-profiler-api==13.0.85 nvidia-nvjitlink==13.0.88 nvidia-nvtx==13.0.85
  nvidia-cublas==13.1.0.3 nvidia-cufft==12.0.0.61 nvidia-curand==10.4.0.35
  nvidia-cusolver==12.0.4.66 nvidia-cusparse==12.6.3.3 nvidia-cudnn-cu13==9.19.0.56
  nvidia-nccl-cu13==2.28.9
)
staging=$(mktemp -d)
trap 'rm -rf "$staging"' EXIT
echo "cuda_toolkit_from_pypi: downloading ${#wheels[@]} wheels"
"$python" -m pip install -q --no-deps --target "$staging" "${wheels[@]}"
mkdir -p "$prefix"
# The toolkit wheels share nvidia/cu13/{bin,include,lib,nvvm}; cuDNN and NCCL have their own.
for part in cu13 cudnn nccl; do
  cp -a "$staging/nvidia/$part/." "$prefix/"
done
# Unversioned names for the linker (the wheels ship only libX.so.N).
for lib in "$prefix"/lib/lib*.so.*; do
  base=${lib%%.so.*}.so
  [[ -e $base ]] || ln -s "$(basename "$lib")" "$base"
done
[[ -e $prefix/lib64 ]] || ln -s lib "$prefix/lib64"
mkdir -p "$prefix/targets/x86_64-linux"  # where CMake's FindCUDAToolkit also looks
ln -sfn ../../include "$prefix/targets/x86_64-linux/include"
ln -sfn ../../lib "$prefix/targets/x86_64-linux/lib"
chmod +x "$prefix"/bin/* "$prefix"/nvvm/bin/* 2>/dev/null || true
if [[ $prefix == /usr/local/cuda-* && ! -e /usr/local/cuda ]]; then ln -s "$prefix" /usr/local/cuda; fi
"$prefix/bin/nvcc" --version | tail -1
echo "cuda_toolkit_from_pypi: CUDA toolkit in $prefix"
