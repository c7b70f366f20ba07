#include "common/util/cpus.h"

#include <sched.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace ftl {
namespace {

namespace fs = std::filesystem;

std::optional<std::string> FirstLine(const fs::path& path) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) return std::nullopt;
  return std::string(absl::StripAsciiWhitespace(line));
}

// A quota in CPUs from cgroup v2's "QUOTA PERIOD" ("max PERIOD": none).
std::optional<double> V2Quota(const fs::path& dir) {
  const std::optional<std::string> line = FirstLine(dir / "cpu.max");
  if (!line) return std::nullopt;
  const std::vector<std::string> parts = absl::StrSplit(*line, ' ', absl::SkipEmpty());
  double quota = 0, period = 0;
  if (parts.size() != 2 || !absl::SimpleAtod(parts[0], &quota) ||
      !absl::SimpleAtod(parts[1], &period) || quota <= 0 || period <= 0) {
    return std::nullopt;
  }
  return quota / period;
}

// cgroup v1: cpu.cfs_quota_us (-1: none) over cpu.cfs_period_us.
std::optional<double> V1Quota(const fs::path& dir) {
  const std::optional<std::string> quota_text = FirstLine(dir / "cpu.cfs_quota_us");
  const std::optional<std::string> period_text = FirstLine(dir / "cpu.cfs_period_us");
  double quota = 0, period = 0;
  if (!quota_text || !period_text || !absl::SimpleAtod(*quota_text, &quota) ||
      !absl::SimpleAtod(*period_text, &period) || quota <= 0 || period <= 0) {
    return std::nullopt;
  }
  return quota / period;
}

// The smallest quota from `dir` up to `root` (a limit on any ancestor applies too).
std::optional<double> SmallestUpTo(const fs::path& root, fs::path dir,
                                   std::optional<double> (*quota_of)(const fs::path&)) {
  std::optional<double> smallest;
  for (int depth = 0; depth < 64; ++depth) {  // bounded: a path of ".." must not loop
    const std::optional<double> here = quota_of(dir);
    if (here && (!smallest || *here < *smallest)) smallest = here;
    if (dir == root || dir.parent_path() == dir) break;
    dir = dir.parent_path();
  }
  return smallest;
}

}  // namespace

std::optional<double> CgroupCpuQuota(const std::string& cgroup_root,
                                     const std::string& proc_self_cgroup) {
  const fs::path root(cgroup_root);
  std::optional<double> quota;
  auto take = [&quota](std::optional<double> q) {
    if (q && (!quota || *q < *quota)) quota = q;
  };
  std::istringstream lines(proc_self_cgroup);
  for (std::string line; std::getline(lines, line);) {
    // "HIERARCHY:CONTROLLERS:PATH"; v2 is "0::PATH".
    const std::vector<std::string> fields = absl::StrSplit(line, absl::MaxSplits(':', 2));
    if (fields.size() != 3) continue;
    const std::string relative = std::string(absl::StripPrefix(fields[2], "/"));
    if (fields[0] == "0" && fields[1].empty()) {
      take(SmallestUpTo(root, relative.empty() ? root : root / relative, V2Quota));
      continue;
    }
    const std::vector<std::string> controllers = absl::StrSplit(fields[1], ',');
    if (std::find(controllers.begin(), controllers.end(), "cpu") == controllers.end()) continue;
    // v1 mounts the cpu controller as cpu/ or cpu,cpuacct/ under the root.
    for (const char* mount : {"cpu", "cpu,cpuacct", "cpuacct,cpu"}) {
      const fs::path base = root / mount;
      std::error_code ec;
      if (!fs::is_directory(base, ec)) continue;
      take(SmallestUpTo(base, relative.empty() ? base : base / relative, V1Quota));
      break;
    }
  }
  return quota;
}

UsableCpus CombineUsableCpus(int hardware, int affinity, std::optional<double> quota) {
  UsableCpus cpus;
  cpus.hardware = std::max(1, hardware);
  cpus.affinity = std::max(1, affinity);
  cpus.quota = quota;
  cpus.count = cpus.affinity;
  if (quota) cpus.count = std::min(cpus.count, std::max(1, static_cast<int>(std::floor(*quota))));
  return cpus;
}

int DefaultThreadsPerRank(const UsableCpus& cpus, int ranks_on_node) {
  int node = cpus.hardware;
  if (cpus.quota) node = std::min(node, std::max(1, static_cast<int>(std::floor(*cpus.quota))));
  const int share = std::max(1, node / std::max(1, ranks_on_node));
  return std::max(1, std::min(cpus.affinity, share));
}

std::string UsableCpus::Describe() const {
  return absl::StrCat(count, " CPU(s) usable (affinity ", affinity, " of ", hardware,
                      quota ? absl::StrFormat(", cgroup quota %.4g CPUs", *quota)
                            : std::string(", no cgroup CPU quota"),
                      ")");
}

UsableCpus FindUsableCpus() {
  const int hardware = static_cast<int>(std::thread::hardware_concurrency());
  int affinity = hardware;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) affinity = CPU_COUNT(&set);
  std::ifstream in("/proc/self/cgroup");
  std::stringstream text;
  text << in.rdbuf();
  return CombineUsableCpus(hardware, affinity, CgroupCpuQuota("/sys/fs/cgroup", text.str()));
}

}  // namespace ftl
