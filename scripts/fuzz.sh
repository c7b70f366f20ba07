#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan) into build-fuzz/ and runs each one.
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     default: 600 s, every target
#   scripts/fuzz.sh --regress                            each target over its seed corpus plus
#                                                        2000 fixed-seed mutations (CI)
# Seeds come from tests/fuzz/corpus/<target> (never written; regress-* files are past findings);
# what a run finds goes to build-fuzz/corpus/<target>, crashes to build-fuzz/findings/<target>/.
# Timed runs use fork mode and keep going after a crash, so one finding does not end the run.
# Prints one summary line per target: executions, corpus size, findings. Exit 1 on any finding.
set -euo pipefail
cd "$(dirname "$0")/.."
all_targets=(fuzz_recordio fuzz_idx fuzz_image_decode fuzz_job_spec fuzz_checkpoint fuzz_verification_bin
             fuzz_safetensors)
mode=timed seconds=600
if [[ ${1:-} == --regress ]]; then mode=regress; shift; fi
if [[ $mode == timed && ${1:-} =~ ^[0-9]+$ ]]; then seconds=$1; shift; fi
targets=("$@")
((${#targets[@]})) || targets=("${all_targets[@]}")

mkdir -p build-fuzz
cmake -S . -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DFTL_FUZZ=ON -DFTL_BUILD_TESTS=ON > build-fuzz/configure.log 2>&1 || { cat build-fuzz/configure.log; exit 1; }
cmake --build build-fuzz -j "${FTL_BUILD_JOBS:-2}" --target "${targets[@]}"

# Leaks are not findings here: LibTorch and protobuf keep process-lifetime allocations.
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:allocator_may_return_null=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export OMP_NUM_THREADS=1
found=0
for t in "${targets[@]}"; do
  if [[ $mode == regress ]]; then  # fresh every time: only the committed corpus decides
    work=build-fuzz/regress/corpus/$t findings=build-fuzz/regress/findings/$t
    rm -rf "$work" "$findings"
  else
    work=build-fuzz/corpus/$t findings=build-fuzz/findings/$t
  fi
  mkdir -p "$work" "$findings"
  log=build-fuzz/$t.log
  if [[ $mode == regress ]]; then
    args=(-seed=1 -runs=2000)
  else
    args=(-max_total_time="$seconds" -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
  fi
  set +e
  build-fuzz/tests/fuzz/$t "${args[@]}" -timeout=20 -rss_limit_mb=4096 -print_final_stats=1 \
    -artifact_prefix="$findings/" "$work" "tests/fuzz/corpus/$t" > "$log" 2>&1
  rc=$?
  set -e
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1 || true)
  # Fork mode reports progress lines "#N: cov: ..." instead.
  [[ -n $execs ]] || execs=$(grep -o '^#[0-9]*:' "$log" | tail -1 | tr -d '#:' || true)
  crashes=$(find "$findings" -type f | wc -l)
  echo "$t: exit $rc, $execs executions, corpus $(find "$work" -type f | wc -l) files, $crashes finding(s)"
  if ((rc != 0 || crashes > 0)); then
    found=1
    grep -m1 -A12 'ERROR: \|runtime error\|deadly signal' "$log" || tail -20 "$log"
  fi
done
exit $found
