// Admission checks for a submitted JobSpec: every number range-checked (common/config), and every
// path inside an allowed data root after resolving symbolic links.
#ifndef FTL_SERVICES_COORDINATOR_SPEC_VALIDATION_H_
#define FTL_SERVICES_COORDINATOR_SPEC_VALIDATION_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/config/job_spec_conversion.h"
#include "ftl/v1/job_spec.pb.h"

namespace ftl {

// InvalidArgument naming the field for: a missing data.path, a relative input path (see
// services/wire/spec_paths.h), a path with a '..' component, a path (or the target of a symlink)
// outside every root, a missing file, or any JobConfigFromSpec error. runtime.output_dir may be
// empty (the job's folder), relative (a folder inside the job's folder) or an existing folder under
// a root.
absl::StatusOr<JobConfig> ValidateJobSpec(const v1::JobSpec& spec,
                                          const std::vector<std::string>& data_roots);

}  // namespace ftl

#endif  // FTL_SERVICES_COORDINATOR_SPEC_VALIDATION_H_
