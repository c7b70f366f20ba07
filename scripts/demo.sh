#!/usr/bin/env bash
# Sets up, builds, and trains the demo: FTL on Extended Yale B with 13 of the 27 identities cut to
# 5 images (under-represented), `small` preset, 2 MPI ranks. A few minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
ranks=${FTL_DEMO_RANKS:-2}
exec mpirun --oversubscribe -np "$ranks" build/services/worker/ftl_worker \
  --config configs/yaleb_demo.json "$@"
