#include "common/blas/blas.h"

#include <dlfcn.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace ftl {
namespace {

// The file name part of a path.
std::string BaseName(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

template <typename Fn>
Fn Symbol(const char* name) {
  // RTLD_DEFAULT: libblas.so.3 is a dependency of libtorch_cpu, so its symbols are global.
  return reinterpret_cast<Fn>(dlsym(RTLD_DEFAULT, name));
}

// The kernel set OpenBLAS runs ("Prescott", "SkylakeX", ...), or empty without OpenBLAS.
std::string OpenBlasCoreName() {
  using CoreFn = char* (*)();
  CoreFn corename = Symbol<CoreFn>("openblas_get_corename");
  return corename == nullptr ? "" : corename();
}

}  // namespace

LoadedBlas DescribeLoadedBlas() {
  LoadedBlas blas;
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    const size_t slash = line.find('/');
    if (slash == std::string::npos) continue;
    const std::string path = line.substr(slash);
    const std::string base = BaseName(path);
    if (absl::StartsWith(base, "libopenblas") || absl::StartsWith(base, "libmkl_rt") ||
        absl::StartsWith(base, "libblis")) {
      blas.blas_file = path;  // the implementation itself, over its libblas.so.3 front
    } else if (absl::StartsWith(base, "libblas.so") && blas.blas_file.empty()) {
      blas.blas_file = path;
    } else if (absl::StartsWith(base, "liblapack.so") && blas.lapack_file.empty()) {
      blas.lapack_file = path;
    }
  }
  using ConfigFn = char* (*)();
  using ParallelFn = int (*)();
  if (ConfigFn config = Symbol<ConfigFn>("openblas_get_config")) {
    blas.openblas = true;
    blas.name = config();
    if (ParallelFn parallel = Symbol<ParallelFn>("openblas_get_parallel")) {
      const int kind = parallel();
      blas.name += kind == 0 ? " (serial)" : kind == 1 ? " (pthread)" : " (openmp)";
    }
    if (const char* detected = std::getenv("FTL_OPENBLAS_DETECTED")) {
      absl::StrAppend(&blas.name, ", kernels set by OPENBLAS_CORETYPE: its detection chose ",
                      detected, " on this CPU");
    }
  } else if (absl::StrContains(blas.blas_file, "/blas/libblas.so")) {
    // Debian's reference package installs here (libblas3); optimised ones elsewhere.
    blas.reference = true;
    blas.name = "reference (netlib)";
  } else {
    blas.name = blas.blas_file.empty() ? "none loaded" : "unknown";
  }
  return blas;
}

std::string BlasSummary(const LoadedBlas& blas) {
  std::string line =
      absl::StrCat("BLAS: ", blas.name, " (", blas.blas_file,
                   "); LAPACK: ", blas.lapack_file.empty() ? "not loaded" : blas.lapack_file);
  if (blas.reference) {
    absl::StrAppend(&line,
                    ". This is the unoptimised reference BLAS: classifier and linear-layer "
                    "products run about 20x slower. `apt-get install libopenblas0-pthread` "
                    "(scripts/setup.sh does) makes OpenBLAS the system's libblas.so.3");
  }
  return line;
}

bool SetBlasThreads(int threads) {
  using SetFn = void (*)(int);
  SetFn set = Symbol<SetFn>("openblas_set_num_threads");
  if (set == nullptr || threads <= 0) return false;
  set(threads);
  return true;
}

std::string BetterOpenBlasCore() {
  const std::string core = absl::AsciiStrToLower(OpenBlasCoreName());
  // Kernels older than Haswell's: what the fallback chooses for a CPU it cannot name.
  static const char* const kOlder[] = {"prescott", "core2",  "penryn",    "dunnington", "nehalem",
                                       "atom",     "katmai", "northwood", "sandybridge"};
  bool older = false;
  for (const char* name : kOlder) older = older || core == name;
  if (!older) return "";
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl")) {
    return "SkylakeX";
  }
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
  return "";
}

void ReexecForBetterOpenBlasCore(char** argv) {
  if (std::getenv("OPENBLAS_CORETYPE") != nullptr) return;  // the user's choice, or done once
  const std::string core = BetterOpenBlasCore();
  if (core.empty()) return;
  const std::string detected = OpenBlasCoreName();
  setenv("OPENBLAS_CORETYPE", core.c_str(), 1);
  setenv("FTL_OPENBLAS_DETECTED", detected.c_str(), 1);
  execv("/proc/self/exe", argv);
  // Still the old kernels: the variables would make DescribeLoadedBlas, and every child, believe
  // otherwise.
  unsetenv("OPENBLAS_CORETYPE");
  unsetenv("FTL_OPENBLAS_DETECTED");
  std::cerr << "warning: OpenBLAS chose its " << detected << " kernels on a CPU with " << core
            << "'s; could not restart with OPENBLAS_CORETYPE=" << core
            << " (set it yourself: matrix products run several times faster)\n";
}

}  // namespace ftl
