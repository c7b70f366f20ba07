#!/usr/bin/env bash
# Sets up, builds, checks the formatting (.clang-format), and runs the whole test suite (unit,
# 2-rank MPI, end to end), then the unit tests under sanitizers (clang, which also checks the lock
# annotations) with the fuzz regressions, then the CUDA compile check.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/check_format.sh
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
(cd build && ctest --output-on-failure -j "${FTL_TEST_JOBS:-2}" --timeout 900)

# The unit tests again under ASan + UBSan (clang), and the fuzz targets over their corpus.
bash scripts/test_sanitizers.sh

# The GPU path must keep compiling: every target against a CUDA LibTorch (nothing runs here).
if [[ -x ${CUDA_HOME:-/usr/local/cuda}/bin/nvcc || ${FTL_REQUIRE_CUDA_BUILD:-0} == 1 ]]; then
  bash scripts/build_cuda.sh
else
  echo "NOT CHECKED: the CUDA build (no CUDA toolkit at ${CUDA_HOME:-/usr/local/cuda}; see scripts/build_cuda.sh)"
fi
