// Which BLAS and LAPACK this process has loaded, and their thread count.
//
// Debian's LibTorch links `libblas.so.3` and `liblapack.so.3`, which resolve through
// update-alternatives to whatever implementation is installed: the reference (netlib) one by
// default, single-threaded and unoptimised (an FC product ~20x slower than OpenBLAS), or OpenBLAS
// when scripts/setup.sh has installed it. Workers print what they got so a slow machine is
// explained. OpenBLAS's pthread flavour keeps its own thread pool, blind to set_num_threads (it
// reads OMP_NUM_THREADS only as it loads), so 2 ranks x 1 thread would run 2 x cores BLAS threads
// when that variable is unset: SetBlasThreads tells it.
#ifndef FTL_COMMON_BLAS_BLAS_H_
#define FTL_COMMON_BLAS_BLAS_H_

#include <string>

namespace ftl {

struct LoadedBlas {
  std::string blas_file;    // the mapped file providing BLAS (libblas.so.3 or libopenblas*)
  std::string lapack_file;  // the mapped file providing LAPACK, or empty
  // "OpenBLAS 0.3.21 ... (pthread)" from openblas_get_config, "reference (netlib)", or "unknown".
  std::string name;
  bool reference = false;  // Debian's netlib reference implementation
  bool openblas = false;
};

// Reads the process's mappings (/proc/self/maps) and OpenBLAS's own report when it is loaded.
LoadedBlas DescribeLoadedBlas();

// One line for logs: "BLAS: <name> (<file>); LAPACK: <file>", with the remedy when the BLAS is the
// reference one.
std::string BlasSummary(const LoadedBlas& blas);

// Sets the BLAS's own thread count where it has one (OpenBLAS); returns whether it was set. The
// reference BLAS is single-threaded; OpenBLAS's OpenMP flavour also follows omp_set_num_threads.
bool SetBlasThreads(int threads);

// The OpenBLAS kernel this CPU supports ("SkylakeX" with AVX-512 F/BW/DQ/VL, "Haswell" with AVX2
// and FMA) when OpenBLAS's own detection, run as it loaded, picked an older one: 0.3.21 names
// unknown CPU models (virtual machines' generic "Intel Xeon Processor") Prescott, whose SSE3
// kernels ran the FC product 5x slower here. Empty when the choice is fine or OpenBLAS is absent.
std::string BetterOpenBlasCore();

// For the top of main(), before MPI starts: when BetterOpenBlasCore() names a kernel and the user
// has not set OPENBLAS_CORETYPE, sets it and executes this program again (OpenBLAS reads it only
// as it loads). Returns when nothing needed doing or the exec failed (then it says so on stderr).
void ReexecForBetterOpenBlasCore(char** argv);

}  // namespace ftl

#endif  // FTL_COMMON_BLAS_BLAS_H_
