// The one place where the wire type ftl.v1.JobSpec meets JobConfig: everything below services/
// takes the plain structs of job_config.h and never includes generated protobuf headers.
//
// A JobSpec arrives as JSON (the worker's --config file) or over gRPC; both go through
// JobConfigFromSpec, which fills defaults and range-checks every field, naming the offending field
// (e.g. "training.batch_size: must be in [1, 65536], got 0") in an InvalidArgument status.
#ifndef FTL_COMMON_CONFIG_JOB_SPEC_CONVERSION_H_
#define FTL_COMMON_CONFIG_JOB_SPEC_CONVERSION_H_

#include <string>

#include "absl/status/statusor.h"
#include "common/config/job_config.h"
#include "ftl/v1/job_spec.pb.h"

namespace ftl {

// A job name a service accepts: no C0, DEL or C1 control characters (it is shown in logs, `ftl
// list` and metric labels). The coordinator checks it at submission (spec_validation.h); the
// stored jobs of earlier releases are not re-checked, and what is printed is escaped anyway.
absl::Status CheckJobName(const std::string& name);

// Fills defaults and validates. Paths are checked for existence (a missing data folder is an
// error before any work starts); output_dir need not exist.
absl::StatusOr<JobConfig> JobConfigFromSpec(const v1::JobSpec& spec);

// Parses a JobSpec from JSON text (unknown fields are refused, naming them).
absl::StatusOr<v1::JobSpec> JobSpecFromJson(const std::string& json);

// Reads, parses and validates a JSON config file.
absl::StatusOr<JobConfig> LoadJobConfigFile(const std::string& path);

}  // namespace ftl

#endif  // FTL_COMMON_CONFIG_JOB_SPEC_CONVERSION_H_
