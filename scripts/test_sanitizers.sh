#!/usr/bin/env bash
# Builds the single-process unit tests with clang, AddressSanitizer and UndefinedBehaviorSanitizer
# (the fuzzing build, build-fuzz/; clang also checks the lock annotations, -Wthread-safety) and
# runs them; then replays every fuzz target over its seed
# corpus and past findings plus fixed-seed mutations (scripts/fuzz.sh --regress). The MPI and
# end-to-end tests are left to the normal build (Open MPI's own allocations are not ASan-clean).
# Any sanitizer report fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
tests=(ftl_math_test schedule_test config_test data_test recordio_test streaming_test checkpoint_test trainer_test
       stage1_reference_test evaluator_test job_runner_test file_util_test coordinator_test credentials_test
       verification_bin_test export_test
       protocol_test eval_test safetensors_test model_files_test)
# Compiled too (not run here), so that clang's -Wthread-safety checks every lock contract.
compile_only=(ftl_worker_lib ftl_tools ftl_coordinator)
mkdir -p build-fuzz
cmake -S . -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DFTL_FUZZ=ON -DFTL_BUILD_TESTS=ON > build-fuzz/configure.log 2>&1 || { cat build-fuzz/configure.log; exit 1; }
cmake --build build-fuzz -j "${FTL_BUILD_JOBS:-2}" --target "${tests[@]}" "${compile_only[@]}" ftl_fuzz_targets
# Leak checking is off: LibTorch and protobuf keep process-lifetime allocations on purpose.
export ASAN_OPTIONS=detect_leaks=0:halt_on_error=1:abort_on_error=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export OMP_NUM_THREADS=1
failed=0
for t in "${tests[@]}"; do
  if ! (cd build-fuzz && "tests/$t" > "$t.log" 2>&1); then
    echo "FAIL: $t under ASan/UBSan (see build-fuzz/$t.log)"; tail -30 "build-fuzz/$t.log"; failed=1
  else
    echo "ok: $t under ASan/UBSan ($(grep -c '^\[       OK' "build-fuzz/$t.log") tests)"
  fi
done
bash scripts/fuzz.sh --regress || failed=1
exit $failed
