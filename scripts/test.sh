#!/usr/bin/env bash
# Sets up, builds, and runs the whole test suite (unit, 2-rank MPI, end to end).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
cd build
ctest --output-on-failure -j "${FTL_TEST_JOBS:-2}" --timeout 900
