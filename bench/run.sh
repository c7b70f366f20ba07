#!/usr/bin/env bash
# Side-by-side benchmarks of the training path on this machine. Prints each measurement, then one
# "name: value" line per ratio (higher is better, except update_stats_vs_forward):
#   step_vs_pytorch         PyTorch (Python) step time / our step time, same model, batch, threads
#   allreduce_vs_memcpy     2-rank MPI all-reduce bus bandwidth (25 MB) / memcpy bandwidth
#   update_stats_vs_forward UpdateStats time / the encoder passes (image + flip) it needs
#   ranks2x1_vs_ranks1x2    images/s of 2 ranks x 1 thread / 1 rank x 2 threads, same global batch
#   loader_vs_step          images/s decoded + resized / images/s a training step consumes
# plus the share of step time waiting on the gradient all-reduce (blocking vs overlapped) and the
# growth exponents of UpdateStats and the FC step. About 10 minutes on 2 cores.
#   bench/run.sh [BUILD_DIR]        (default build/, made by scripts/setup.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
bench=$build/bench/ftl_bench
data=${FTL_DATA_ROOT:-$(cd .. && pwd)/shared/data}/yaleb-cropped
[[ -x $bench ]] || { echo "bench/run.sh: $bench not built (run scripts/setup.sh)"; exit 2; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
mpirun=(mpirun --oversubscribe -np 2)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

value() { grep "^$2:" "$1" | tail -1 | awk '{print $2}'; }
run() {  # run NAME CMD...: runs, keeps the output, echoes it indented
  local name=$1; shift
  echo "== $name: $*"
  "$@" > "$out/$name" 2> "$out/$name.err" || { cat "$out/$name.err"; exit 1; }
  sed 's/^/   /' "$out/$name"
}
ratio() { /usr/bin/python3 -c "import sys; print('%.3f' % (float(sys.argv[1]) / float(sys.argv[2])))" "$1" "$2"; }
best() { /usr/bin/python3 -c "import sys; print(min(map(float, sys.argv[1:])))" "$@"; }

step_flags=(--preset small --batch 32 --iterations 30 --warmup 5 --classes 100)
# 1. Our step vs PyTorch's, alternated twice; the best of each.
for i in 1 2; do
  run "ours$i" "$bench" step "${step_flags[@]}" --threads 1
  run "pytorch$i" /usr/bin/python3 bench/step_reference.py "${step_flags[@]}" --threads 1
done
[[ $(value "$out/ours1" parameters) == $(value "$out/pytorch1" parameters) ]] ||
  { echo "the PyTorch reference is not the same model (parameter counts differ)"; exit 1; }
ours_ms=$(best "$(value "$out/ours1" step_ms)" "$(value "$out/ours2" step_ms)")
pytorch_ms=$(best "$(value "$out/pytorch1" step_ms)" "$(value "$out/pytorch2" step_ms)")

# 2. All-reduce vs memcpy.
run allreduce "${mpirun[@]}" "$bench" allreduce --megabytes 25

# 3. UpdateStats vs its encoder passes.
run update_stats "$bench" update_stats --preset small --classes 100 --threads 1

# 4. 2 ranks x 1 thread vs 1 rank x 2 threads (global batch 64 both); blocking vs overlapped.
run ranks2x1 "${mpirun[@]}" "$bench" step "${step_flags[@]}" --threads 1 --overlap=true
run ranks2x1_blocking "${mpirun[@]}" "$bench" step "${step_flags[@]}" --threads 1 --overlap=false
run ranks1x2 "$bench" step --preset small --batch 64 --iterations 30 --warmup 5 --classes 100 --threads 2

# 5. Loader vs step on real images (Extended Yale B), 2 threads.
run loader "$bench" loader --data "$data" --preset small --batch 32 --iterations 20 --threads 2

# 6. Cost growth.
run growth "$bench" growth --threads 1

echo "== ratios"
echo "step_vs_pytorch: $(ratio "$pytorch_ms" "$ours_ms")   (target >= 1.10; ours $ours_ms ms, PyTorch $pytorch_ms ms)"
echo "allreduce_vs_memcpy: $(value "$out/allreduce" allreduce_vs_memcpy)   (target >= 0.5)"
echo "update_stats_vs_forward: $(value "$out/update_stats" update_stats_vs_forward)   (target <= 1.15)"
echo "ranks2x1_vs_ranks1x2: $(ratio "$(value "$out/ranks2x1" images_per_s)" "$(value "$out/ranks1x2" images_per_s)")   (target >= 0.9)"
echo "loader_vs_step: $(value "$out/loader" loader_vs_step)   (target >= 3)"
echo "allreduce_wait_share_overlapped: $(value "$out/ranks2x1" allreduce_wait_share)"
echo "allreduce_wait_share_blocking: $(value "$out/ranks2x1_blocking" allreduce_wait_share)"
for e in update_stats_exponent_in_classes fc_step_exponent_in_classes update_stats_exponent_in_samples; do
  echo "$e: $(value "$out/growth" $e)"
done
