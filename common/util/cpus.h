// How many CPUs this process may really use: not std::thread::hardware_concurrency (every core of
// the host) but the smaller of its affinity mask (taskset, cpusets, Kubernetes' static CPU
// manager) and its cgroup's CPU quota (a pod's CPU limit: a pod limited to 32 CPUs on a 128-core
// host that starts 128 threads is throttled, every step).
#ifndef FTL_COMMON_UTIL_CPUS_H_
#define FTL_COMMON_UTIL_CPUS_H_

#include <optional>
#include <string>

namespace ftl {

struct UsableCpus {
  int count = 1;                // what to size thread pools by: at least 1
  int hardware = 1;             // std::thread::hardware_concurrency
  int affinity = 1;             // CPUs in this thread's affinity mask
  std::optional<double> quota;  // the cgroup's CPU quota in CPUs (quota / period), if limited
  // "2 CPUs usable (affinity 2 of 64, cgroup quota 2.5 CPUs)".
  std::string Describe() const;
};

// The CPU quota of the cgroup `proc_self_cgroup` (the text of /proc/self/cgroup) names, under
// `cgroup_root` (/sys/fs/cgroup): cgroup v2's cpu.max or v1's cpu.cfs_quota_us and
// cpu.cfs_period_us, the smallest along the path from that cgroup up to the root; none when
// unlimited or unreadable.
std::optional<double> CgroupCpuQuota(const std::string& cgroup_root,
                                     const std::string& proc_self_cgroup);

// count = min(affinity, floor(quota)) (at least 1).
UsableCpus CombineUsableCpus(int hardware, int affinity, std::optional<double> quota);

// Intra-op threads for one of `ranks_on_node` ranks: the node's CPUs (the host's, or the cgroup
// quota the ranks share: one pod or container) divided among them, and never more than this
// rank's own affinity mask — which, when mpirun binds each rank to its cores or socket, is already
// its share and is not divided again. At least 1.
int DefaultThreadsPerRank(const UsableCpus& cpus, int ranks_on_node);

// This process's, from sched_getaffinity, /proc/self/cgroup and /sys/fs/cgroup.
UsableCpus FindUsableCpus();

}  // namespace ftl

#endif  // FTL_COMMON_UTIL_CPUS_H_
