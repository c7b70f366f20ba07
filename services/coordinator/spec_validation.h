// Admission checks for a submitted JobSpec: its size and every string bounded, every number
// range-checked and finite (common/config), every path inside an allowed data root after resolving
// symbolic links — and the resolved paths are what the job keeps, so a symlink repointed after
// admission cannot move it. Checked again when the job launches (CheckPathsAtLaunch).
#ifndef FTL_SERVICES_COORDINATOR_SPEC_VALIDATION_H_
#define FTL_SERVICES_COORDINATOR_SPEC_VALIDATION_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/config/job_spec_conversion.h"
#include "ftl/v1/job_spec.pb.h"

namespace ftl {

// Bounds on what one submission may store (docs/coordinator.md): one job can never make listing
// or watching fail for others.
inline constexpr size_t kMaxSpecBytes = 256 * 1024;
inline constexpr size_t kMaxSpecStringBytes = 4096;
inline constexpr size_t kMaxJobNameBytes = 256;

struct AdmittedSpec {
  JobConfig config;
  v1::JobSpec spec;  // the submitted spec with every input path replaced by its real path
};

// InvalidArgument naming the field for: a spec over kMaxSpecBytes, a string over
// kMaxSpecStringBytes (the name over kMaxJobNameBytes) or holding a NUL byte, a missing data.path,
// a relative input path (see services/wire/spec_paths.h), a path with a '..' component, a path (or
// the target of a symlink) outside every root, a missing file, or any JobConfigFromSpec error.
// runtime.output_dir may be empty (the job's folder), relative (a folder inside the job's folder)
// or an existing folder under a root (kept as its real path).
absl::StatusOr<AdmittedSpec> ValidateJobSpec(const v1::JobSpec& spec,
                                             const std::vector<std::string>& data_roots);

// At launch: every input path of the stored spec still resolves to itself inside a root (nothing
// on the way became a symlink), and the output folder lies under a root or under `state_dir`.
absl::Status CheckPathsAtLaunch(const v1::JobSpec& stored,
                                const std::vector<std::string>& data_roots,
                                const std::string& state_dir);

}  // namespace ftl

#endif  // FTL_SERVICES_COORDINATOR_SPEC_VALIDATION_H_
