#include "common/util/cpus.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace ftl {
namespace {

namespace fs = std::filesystem;

void Write(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text << "\n";
}

TEST(CpusTest, CgroupV2QuotaIsTheSmallestAlongThePath) {
  const fs::path root = fs::path(::testing::TempDir()) / "cgroup_v2";
  fs::remove_all(root);
  Write(root / "cpu.max", "max 100000");
  Write(root / "kubepods/cpu.max", "800000 100000");       // 8 CPUs
  Write(root / "kubepods/pod1/cpu.max", "250000 100000");  // 2.5 CPUs
  Write(root / "kubepods/pod1/c1/cpu.max", "max 100000");
  const std::optional<double> quota = CgroupCpuQuota(root.string(), "0::/kubepods/pod1/c1\n");
  ASSERT_TRUE(quota.has_value());
  EXPECT_DOUBLE_EQ(*quota, 2.5);
  EXPECT_FALSE(CgroupCpuQuota(root.string(), "0::/\n").has_value());  // root: unlimited
  EXPECT_FALSE(CgroupCpuQuota(root.string(), "garbage").has_value());
}

TEST(CpusTest, CgroupV1QuotaFromTheCpuController) {
  const fs::path root = fs::path(::testing::TempDir()) / "cgroup_v1";
  fs::remove_all(root);
  Write(root / "cpu,cpuacct/cpu.cfs_quota_us", "-1");
  Write(root / "cpu,cpuacct/cpu.cfs_period_us", "100000");
  Write(root / "cpu,cpuacct/docker/abc/cpu.cfs_quota_us", "300000");
  Write(root / "cpu,cpuacct/docker/abc/cpu.cfs_period_us", "100000");
  const std::string self = "4:memory:/docker/abc\n2:cpu,cpuacct:/docker/abc\n";
  const std::optional<double> quota = CgroupCpuQuota(root.string(), self);
  ASSERT_TRUE(quota.has_value());
  EXPECT_DOUBLE_EQ(*quota, 3.0);
  EXPECT_FALSE(CgroupCpuQuota(root.string(), "2:cpu,cpuacct:/\n").has_value());  // -1: none
}

TEST(CpusTest, UsableIsTheSmallerOfAffinityAndQuota) {
  EXPECT_EQ(CombineUsableCpus(128, 128, 32.0).count, 32);  // a pod limited to 32 CPUs
  EXPECT_EQ(CombineUsableCpus(128, 8, 32.0).count, 8);     // pinned to 8
  EXPECT_EQ(CombineUsableCpus(64, 64, 2.5).count, 2);      // never more threads than the quota
  EXPECT_EQ(CombineUsableCpus(64, 64, 0.5).count, 1);
  EXPECT_EQ(CombineUsableCpus(16, 16, std::nullopt).count, 16);
  EXPECT_EQ(CombineUsableCpus(64, 64, 2.5).Describe(),
            "2 CPU(s) usable (affinity 64 of 64, cgroup quota 2.5 CPUs)");
  // Threads per rank: the node's CPUs (or the pod's quota) shared, capped by the rank's own mask.
  EXPECT_EQ(DefaultThreadsPerRank(CombineUsableCpus(16, 16, std::nullopt), 2), 8);  // unbound
  EXPECT_EQ(DefaultThreadsPerRank(CombineUsableCpus(16, 1, std::nullopt), 2), 1);   // core-bound
  EXPECT_EQ(DefaultThreadsPerRank(CombineUsableCpus(32, 16, std::nullopt), 4), 8);  // socket-bound
  EXPECT_EQ(DefaultThreadsPerRank(CombineUsableCpus(128, 128, 32.0), 4), 8);        // a 32-CPU pod
  EXPECT_EQ(DefaultThreadsPerRank(CombineUsableCpus(128, 32, 32.0), 4), 8);  // static CPU manager
  EXPECT_EQ(DefaultThreadsPerRank(CombineUsableCpus(2, 2, std::nullopt), 4), 1);  // never 0
  // This machine: a sane answer, at most the affinity mask.
  const UsableCpus here = FindUsableCpus();
  EXPECT_GE(here.count, 1);
  EXPECT_LE(here.count, here.affinity);
}

}  // namespace
}  // namespace ftl
