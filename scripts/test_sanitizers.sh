#!/usr/bin/env bash
# Builds the unit tests with AddressSanitizer + UndefinedBehaviorSanitizer into build-asan/ and
# runs them (the single-process suites; the MPI and end-to-end tests are left to the normal build,
# as Open MPI's own allocations are not ASan-clean). Any sanitizer report fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh > /dev/null
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DFTL_SANITIZE=ON -DFTL_BUILD_TESTS=ON
tests=(ftl_math_test schedule_test config_test data_test checkpoint_test trainer_test eval_test coordinator_test)
cmake --build build-asan -j "${FTL_BUILD_JOBS:-2}" --target "${tests[@]}"
# Leak checking is off: LibTorch and protobuf keep process-lifetime allocations on purpose.
export ASAN_OPTIONS=detect_leaks=0:halt_on_error=1:abort_on_error=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export OMP_NUM_THREADS=1
cd build-asan
failed=0
for t in "${tests[@]}"; do
  if ! "tests/$t" > "$t.log" 2>&1; then
    echo "FAIL: $t (see build-asan/$t.log)"; tail -30 "$t.log"; failed=1
  else
    echo "ok: $t ($(grep -c '^\[       OK' "$t.log") tests)"
  fi
done
exit $failed
