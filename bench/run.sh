#!/usr/bin/env bash
# Side-by-side benchmarks of the training path on this machine. Prints each measurement, then one
# "name: value" line per ratio (higher is better, except update_stats_vs_forward):
#   step_vs_pytorch         PyTorch (Python) step time / our step time, same model, batch, threads
#   iresnet18_step_vs_pytorch  the same for arcface_torch's recipe (iresnet18, ArcFace, SGD), against
#                           Debian's PyTorch and (_pypi) PyPI's current one
#   allreduce_vs_memcpy     2-rank MPI all-reduce bus bandwidth (25 MB) / memcpy bandwidth
#   update_stats_vs_forward UpdateStats time / the encoder passes (image + flip) it needs
#   ranks2x1_vs_ranks1x2    images/s of 2 ranks x 1 thread / 1 rank x 2 threads, same global batch
#   loader_vs_step          images/s decoded + resized / images/s a training step consumes
#   streamed_vs_in_memory_step  training images/s with images streamed from LFW's JPEGs (1 loader
#                           thread reading ahead) / with them decoded into memory first
#   memory_in_memory_vs_streamed  memory the in-memory dataset needs / the streamed one (LFW)
#   blas_fc_product_vs_reference, blas_fc_step_vs_reference, blas_step_20k_vs_reference,
#   blas_update_stats_vs_reference  the same work on the installed BLAS (printed first; setup.sh
#                           installs OpenBLAS) / on Debian's reference BLAS, forced through
#                           LD_LIBRARY_PATH: the FC product and step at 20K classes (batch 256, D 512),
#                           a whole `small` step at 20K classes, UpdateStats at 1,000 classes
#   fc_sharded_2r_vs_replicated  the classifier step (100K classes, D 512, batch 128 per rank) of 2
#                           ranks holding half the classes each / of 1 rank holding them all, same
#                           global batch; fc_sharded_vs_data_parallel_2r against 2 replicated ranks;
#                           and the classifier state bytes per rank at 1M classes
# plus the share of step time waiting on the gradient all-reduce (blocking vs overlapped) and the
# growth exponents of UpdateStats and the FC step. About 23 minutes on 2 cores (3 of them the BLAS pair, 5 the classifier step).
#   bench/run.sh [BUILD_DIR]        (default build/, made by scripts/setup.sh)
#   FTL_BENCH_ONLY=blas bench/run.sh   only the BLAS comparison (about 3 minutes)
#   FTL_BENCH_ONLY=classifier bench/run.sh   the BLAS pair, then the classifier step only
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
bench=$build/bench/ftl_bench
data_root=${FTL_DATA_ROOT:-$(cd .. && pwd)/shared/data}
data=$data_root/yaleb-cropped
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

# 0. The BLAS: what is loaded, then the installed one against the reference, alternated twice.
reference_blas=/usr/lib/x86_64-linux-gnu/blas:/usr/lib/x86_64-linux-gnu/lapack
# (Assigned first: set -e does not see a failure inside an echo's argument.)
installed=$("$bench" fc --classes 10 --iterations 1 --warmup 0 | grep '^blas:' | cut -d' ' -f2-)
reference=$(LD_LIBRARY_PATH=$reference_blas "$bench" fc --classes 10 --iterations 1 --warmup 0 | grep '^blas:' | cut -d' ' -f2-)
echo "== blas installed: $installed"
echo "== blas reference: $reference"
fc_flags=(fc --classes 20000 --batch 256 --dim 512 --iterations 2 --warmup 1 --threads 1)
step20k_flags=(step --preset small --batch 32 --iterations 8 --warmup 2 --classes 20000 --images_per_class 1 --threads 1)
stats_flags=(update_stats --preset small --classes 1000 --images_per_class 2 --threads 1)
for i in 1 2; do
  run "blas_fc$i" "$bench" "${fc_flags[@]}"
  run "blas_fc_reference$i" env LD_LIBRARY_PATH=$reference_blas "$bench" "${fc_flags[@]}"
  run "blas_step$i" "$bench" "${step20k_flags[@]}"
  run "blas_step_reference$i" env LD_LIBRARY_PATH=$reference_blas "$bench" "${step20k_flags[@]}"
  run "blas_stats$i" "$bench" "${stats_flags[@]}"
  run "blas_stats_reference$i" env LD_LIBRARY_PATH=$reference_blas "$bench" "${stats_flags[@]}"
done
best2() { best "$(value "$out/${1}1" "$2")" "$(value "$out/${1}2" "$2")"; }  # best2 NAME KEY
blas_ratios() {
  for key in fc_product_ms fc_step_ms; do
    echo "blas_${key%_ms}_vs_reference: $(ratio "$(best2 blas_fc_reference "$key")" "$(best2 blas_fc "$key")")   (installed $(best2 blas_fc "$key") ms, reference $(best2 blas_fc_reference "$key") ms)"
  done
  echo "blas_step_20k_vs_reference: $(ratio "$(best2 blas_step_reference step_ms)" "$(best2 blas_step step_ms)")   (installed $(best2 blas_step step_ms) ms, reference $(best2 blas_step_reference step_ms) ms)"
  echo "blas_update_stats_vs_reference: $(ratio "$(best2 blas_stats_reference update_stats_s)" "$(best2 blas_stats update_stats_s)")   (installed $(best2 blas_stats update_stats_s) s, reference $(best2 blas_stats_reference update_stats_s) s)"
}
if [[ ${FTL_BENCH_ONLY:-} == blas ]]; then echo "== ratios"; blas_ratios; exit 0; fi

# 0b. The classifier step (forward, backward, gradient average, Adam) at 100K classes, D 512, batch
#     128 per rank: sharded over 2 ranks (Partial FC at rate 1), replicated on 2 data-parallel ranks
#     (the FC gradient all-reduced), and replicated on 1 rank of the same global batch (256).
#     Alternated twice, the best of each. Then the classifier state one rank holds at 1M classes.
classifier_flags=(classifier_step --classes 100000 --dim 512 --iterations 3 --warmup 1 --threads 1)
for i in 1 2; do
  run "fc_sharded_2r_$i" "${mpirun[@]}" "$bench" "${classifier_flags[@]}" --batch 128 --sharding sharded
  run "fc_replicated_2r_$i" "${mpirun[@]}" "$bench" "${classifier_flags[@]}" --batch 128 --sharding replicated
  run "fc_replicated_1r_$i" "$bench" "${classifier_flags[@]}" --batch 256 --sharding replicated
done
million_flags=(classifier_step --classes 1000000 --dim 512 --batch 32 --iterations 1 --warmup 0 --threads 1)
run fc_state_sharded_2r_1m "${mpirun[@]}" "$bench" "${million_flags[@]}" --sharding sharded
run fc_state_replicated_1m "$bench" "${million_flags[@]}" --sharding replicated
classifier_ratios() {
  local sharded replicated_2r replicated_1r
  sharded=$(best2x fc_sharded_2r classifier_step_ms)
  replicated_2r=$(best2x fc_replicated_2r classifier_step_ms)
  replicated_1r=$(best2x fc_replicated_1r classifier_step_ms)
  echo "fc_sharded_2r_vs_replicated: $(ratio "$sharded" "$replicated_1r")   (target <= 0.6; 2 sharded ranks $sharded ms, 1 replicated rank of the same global batch $replicated_1r ms)"
  echo "fc_sharded_vs_data_parallel_2r: $(ratio "$sharded" "$replicated_2r")   (2 data-parallel replicated ranks $replicated_2r ms)"
  echo "fc_sample_0.1_vs_1.0: not measured (loss.sample_rate is not built yet)"
  local sharded_bytes replicated_bytes
  sharded_bytes=$(value "$out/fc_state_sharded_2r_1m" classifier_state_bytes_per_rank)
  replicated_bytes=$(value "$out/fc_state_replicated_1m" classifier_state_bytes_per_rank)
  echo "classifier_state_bytes_per_rank_1m: sharded over 2 ranks $sharded_bytes, replicated $replicated_bytes (ratio $(ratio "$sharded_bytes" "$replicated_bytes"); weights, gradients and Adam's moments at D 512)"
}
best2x() { best "$(value "$out/${1}_1" "$2")" "$(value "$out/${1}_2" "$2")"; }  # best2x NAME KEY
if [[ ${FTL_BENCH_ONLY:-} == classifier ]]; then echo "== ratios"; blas_ratios; classifier_ratios; exit 0; fi

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

# 1b. An arcface_torch step: iresnet18 + ArcFace + SGD (poly, clipping), batch 32 at 112x112, 2
#     threads, against the same network in PyTorch: Debian's python3-torch (the LibTorch we link)
#     and, when scripts/build_cuda.sh has made its venv, PyPI's current torch (on the CPU).
#     Alternated twice, the best of each.
iresnet_flags=(--preset iresnet18 --head arcface --optimizer sgd --batch 32 --iterations 4 --warmup 2
               --classes 100 --images_per_class 4 --threads 2)
pypi_python=${FTL_TORCH_CUDA_VENV:-/opt/ftl/torch-cuda}/bin/python
for i in 1 2; do
  run "iresnet_ours$i" "$bench" step "${iresnet_flags[@]}"
  run "iresnet_pytorch$i" /usr/bin/python3 bench/iresnet_step_reference.py "${iresnet_flags[@]}"
  [[ -x $pypi_python ]] && run "iresnet_pypi$i" "$pypi_python" bench/iresnet_step_reference.py "${iresnet_flags[@]}"
  # Our step built against PyPI's LibTorch (scripts/build_cuda.sh's build-cuda/, run on the CPU).
  [[ -x build-cuda/bench/ftl_bench ]] && run "iresnet_ours_pypi$i" build-cuda/bench/ftl_bench step "${iresnet_flags[@]}"
done
[[ $(value "$out/iresnet_ours1" parameters) == $(value "$out/iresnet_pytorch1" parameters) ]] ||
  { echo "the IResNet reference is not the same model (parameter counts differ)"; exit 1; }
iresnet_ours_ms=$(best "$(value "$out/iresnet_ours1" step_ms)" "$(value "$out/iresnet_ours2" step_ms)")
iresnet_pytorch_ms=$(best "$(value "$out/iresnet_pytorch1" step_ms)" "$(value "$out/iresnet_pytorch2" step_ms)")

# 2. All-reduce vs memcpy.
run allreduce "${mpirun[@]}" "$bench" allreduce --megabytes 25

# 3. UpdateStats vs its encoder passes.
run update_stats "$bench" update_stats --preset small --classes 100 --threads 1

# 4. 2 ranks x 1 thread vs 1 rank x 2 threads (global batch 64 both), with the CPU default
#    (blocking all-reduce after backward) and with the all-reduce overlapped with backward.
#    Alternated three times, best of each: single runs vary by +-10% on a shared VM.
for i in 1 2 3; do
  run "ranks2x1_$i" "${mpirun[@]}" "$bench" step "${step_flags[@]}" --threads 1 --overlap=false
  run "ranks2x1_overlapped_$i" "${mpirun[@]}" "$bench" step "${step_flags[@]}" --threads 1 --overlap=true
  run "ranks1x2_$i" "$bench" step --preset small --batch 64 --iterations 30 --warmup 5 --classes 100 --threads 2
done
most() { /usr/bin/python3 -c "import sys; print(max(map(float, sys.argv[1:])))" "$@"; }
best_of() {  # best_of NAME: images/s of the best of NAME_1..3
  most "$(value "$out/${1}_1" images_per_s)" "$(value "$out/${1}_2" images_per_s)" "$(value "$out/${1}_3" images_per_s)"
}
share_of_best() {  # the all-reduce wait share of NAME's best run
  local best; best=$(best_of "$1")
  for i in 1 2 3; do
    if [[ $(/usr/bin/python3 -c "print(float('$(value "$out/${1}_$i" images_per_s)') == float('$best'))") == True ]]; then
      value "$out/${1}_$i" allreduce_wait_share; return
    fi
  done
}

# 5. Loader vs step on real images (Extended Yale B), 2 threads.
run loader "$bench" loader --data "$data" --preset small --batch 32 --iterations 20 --threads 2

# 5b. Streaming vs in memory on LFW (13,233 JPEGs): 1 compute + 1 loader thread on 2 cores.
run streaming "$bench" streaming --data "$data_root/lfw/lfw-deepfunneled" --center_crop 0.5 --preset small \
  --batch 32 --iterations 20 --warmup 3 --threads 1 --loader_threads 1 --rounds 2

# 6. Cost growth.
run growth "$bench" growth --threads 1

echo "== ratios"
blas_ratios
classifier_ratios
echo "step_vs_pytorch: $(ratio "$pytorch_ms" "$ours_ms")   (target >= 1.10; ours $ours_ms ms, PyTorch $pytorch_ms ms)"
echo "iresnet18_step_vs_pytorch: $(ratio "$iresnet_pytorch_ms" "$iresnet_ours_ms")   (target >= 1.05; ours $iresnet_ours_ms ms, Debian PyTorch $(value "$out/iresnet_pytorch1" torch) $iresnet_pytorch_ms ms)"
if [[ -f $out/iresnet_pypi1 ]]; then
  iresnet_pypi_ms=$(best "$(value "$out/iresnet_pypi1" step_ms)" "$(value "$out/iresnet_pypi2" step_ms)")
  echo "iresnet18_step_vs_pytorch_pypi: $(ratio "$iresnet_pypi_ms" "$iresnet_ours_ms")   (PyPI PyTorch $(value "$out/iresnet_pypi1" torch) $iresnet_pypi_ms ms)"
else
  echo "iresnet18_step_vs_pytorch_pypi: not measured ($pypi_python missing: scripts/build_cuda.sh makes it)"
fi
if [[ -f $out/iresnet_ours_pypi1 ]]; then
  iresnet_ours_pypi_ms=$(best "$(value "$out/iresnet_ours_pypi1" step_ms)" "$(value "$out/iresnet_ours_pypi2" step_ms)")
  echo "iresnet18_step_pypi_libtorch_vs_debian: $(ratio "$iresnet_ours_ms" "$iresnet_ours_pypi_ms")   (our step linked against PyPI's LibTorch, build-cuda/ on the CPU, $iresnet_ours_pypi_ms ms; against PyPI PyTorch: $([[ -n ${iresnet_pypi_ms:-} ]] && ratio "$iresnet_pypi_ms" "$iresnet_ours_pypi_ms"))"
else
  echo "iresnet18_step_pypi_libtorch_vs_debian: not measured (no build-cuda/: bash scripts/build_cuda.sh)"
fi
echo "allreduce_vs_memcpy: $(value "$out/allreduce" allreduce_vs_memcpy)   (target >= 0.5)"
echo "update_stats_vs_forward: $(value "$out/update_stats" update_stats_vs_forward)   (target <= 1.15)"
echo "ranks2x1_vs_ranks1x2: $(ratio "$(best_of ranks2x1)" "$(best_of ranks1x2)")   (target >= 0.9; $(best_of ranks2x1) vs $(best_of ranks1x2) images/s; overlapped all-reduce: $(best_of ranks2x1_overlapped))"
echo "loader_vs_step: $(value "$out/loader" loader_vs_step)   (target >= 3)"
echo "streamed_vs_in_memory_step: $(value "$out/streaming" streamed_vs_in_memory_step)   (target >= 0.9; loader alone $(value "$out/streaming" loader_images_per_s_streamed) images/s)"
echo "memory_in_memory_vs_streamed: $(value "$out/streaming" memory_in_memory_vs_streamed)   ($(value "$out/streaming" dataset_mb_in_memory) MB vs $(value "$out/streaming" dataset_mb_streamed) MB for LFW)"
echo "allreduce_wait_share_blocking: $(share_of_best ranks2x1)"
echo "allreduce_wait_share_overlapped: $(share_of_best ranks2x1_overlapped)"
for e in update_stats_exponent_in_classes fc_step_exponent_in_classes update_stats_exponent_in_samples; do
  echo "$e: $(value "$out/growth" $e)"
done
