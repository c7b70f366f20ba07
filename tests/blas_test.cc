// DescribeLoadedBlas against the loader's own answer (dladdr of sgemm_), and SetBlasThreads
// against OpenBLAS's own count. Registered three times in CMake: as built (scripts/setup.sh
// installs OpenBLAS, FTL_EXPECT_BLAS=openblas), the same with OPENBLAS_CORETYPE=Prescott, and with
// LD_LIBRARY_PATH forcing Debian's reference BLAS (FTL_EXPECT_BLAS=reference).
#include "common/blas/blas.h"

#include <dlfcn.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdlib>
#include <filesystem>
#include <string>

namespace ftl {
namespace {

std::string ExpectedKind() {
  const char* kind = std::getenv("FTL_EXPECT_BLAS");
  return kind == nullptr ? "" : kind;
}

// The file the dynamic loader resolved sgemm_ to: independent of /proc/self/maps.
std::string FileProviding(const char* symbol) {
  void* address = dlsym(RTLD_DEFAULT, symbol);
  Dl_info info{};
  if (address == nullptr || dladdr(address, &info) == 0 || info.dli_fname == nullptr) return "";
  return std::filesystem::canonical(info.dli_fname).string();
}

TEST(Blas, DescribesTheBlasTheLoaderResolved) {
  // A product through the BLAS (torch's CPU matmul of floats calls sgemm_).
  const torch::Tensor a = torch::randn({64, 64});
  EXPECT_GT(a.mm(a).abs().sum().item<float>(), 0);
  const LoadedBlas blas = DescribeLoadedBlas();
  const std::string sgemm_file = FileProviding("sgemm_");
  ASSERT_FALSE(sgemm_file.empty()) << "no sgemm_ in this process: libtorch did not load a BLAS";
  ASSERT_FALSE(blas.blas_file.empty());
  EXPECT_TRUE(std::filesystem::exists(blas.blas_file)) << blas.blas_file;
  EXPECT_NE(blas.reference, blas.openblas) << blas.name;
  if (blas.openblas) {
    // OpenBLAS's libblas.so.3 is a front for libopenblas: the description names the latter, the
    // one exporting openblas_get_config.
    EXPECT_EQ(std::filesystem::canonical(blas.blas_file).string(),
              FileProviding("openblas_get_config"));
    EXPECT_NE(blas.name.find("OpenBLAS"), std::string::npos) << blas.name;
  } else {
    EXPECT_EQ(std::filesystem::canonical(blas.blas_file).string(), sgemm_file);
    EXPECT_EQ(blas.name, "reference (netlib)");
  }
  EXPECT_FALSE(blas.lapack_file.empty());
  const std::string expected = ExpectedKind();
  if (expected == "reference") {
    EXPECT_TRUE(blas.reference) << BlasSummary(blas);
  } else if (expected == "openblas") {
    EXPECT_TRUE(blas.openblas) << BlasSummary(blas) << " (scripts/setup.sh installs OpenBLAS)";
  }
}

TEST(Blas, SetBlasThreadsReachesOpenBlas) {
  const LoadedBlas blas = DescribeLoadedBlas();
  using GetFn = int (*)();
  GetFn get = reinterpret_cast<GetFn>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
  if (!blas.openblas) {
    EXPECT_FALSE(SetBlasThreads(1)) << "the reference BLAS has no thread count to set";
    EXPECT_EQ(get, nullptr);
    return;
  }
  ASSERT_NE(get, nullptr);
  ASSERT_TRUE(SetBlasThreads(1));
  EXPECT_EQ(get(), 1);
  ASSERT_TRUE(SetBlasThreads(2));
  EXPECT_EQ(get(), 2);
  EXPECT_FALSE(SetBlasThreads(0));
  EXPECT_EQ(get(), 2);
}

// Under OpenBLAS with OPENBLAS_CORETYPE=Prescott (registered so in CMake) the advice names the
// kernel the CPU supports, from the CPU's own flags; with the kernels it chose itself, none older
// than Haswell remains to advise on.
TEST(Blas, BetterOpenBlasCoreFollowsTheCpuFlags) {
  const LoadedBlas blas = DescribeLoadedBlas();
  const std::string advice = BetterOpenBlasCore();
  if (!blas.openblas) {
    EXPECT_EQ(advice, "");
    return;
  }
  using CoreFn = char* (*)();
  const std::string core = reinterpret_cast<CoreFn>(dlsym(RTLD_DEFAULT, "openblas_get_corename"))();
  __builtin_cpu_init();
  const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  const char* forced = std::getenv("OPENBLAS_CORETYPE");
  if (forced != nullptr && std::string(forced) == "Prescott") {
    ASSERT_EQ(core, "Prescott");
  }
  const bool older = core == "Prescott" || core == "Core2" || core == "Penryn" ||
                     core == "Dunnington" || core == "Nehalem" || core == "Atom" ||
                     core == "Katmai" || core == "Northwood" || core == "Sandybridge";
  EXPECT_EQ(advice, !older ? "" : avx512 ? "SkylakeX" : avx2 ? "Haswell" : "") << core;
}

TEST(Blas, SummaryGivesTheRemedyOnlyForTheReference) {
  LoadedBlas reference;
  reference.reference = true;
  reference.name = "reference (netlib)";
  reference.blas_file = "/usr/lib/x86_64-linux-gnu/blas/libblas.so.3";
  EXPECT_NE(BlasSummary(reference).find("libopenblas0-pthread"), std::string::npos);
  LoadedBlas openblas;
  openblas.openblas = true;
  openblas.name = "OpenBLAS 0.3.21 (pthread)";
  EXPECT_EQ(BlasSummary(openblas).find("libopenblas0-pthread"), std::string::npos);
  EXPECT_NE(BlasSummary(openblas).find("OpenBLAS 0.3.21 (pthread)"), std::string::npos);
  EXPECT_NE(BlasSummary(openblas).find("LAPACK: not loaded"), std::string::npos);
}

}  // namespace
}  // namespace ftl
