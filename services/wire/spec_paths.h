// The file and folder paths a JobSpec reads (data, evaluation, init checkpoint), and what a
// relative one means when a spec is submitted to the service: `ftl submit` makes it absolute
// against the folder it runs in — the same rule as `ftl_worker --config` — so the coordinator, its
// workers (who run inside the job's folder) and the submitter agree on one file. The service
// refuses relative input paths from other clients. runtime.output_dir is not an input: relative,
// it names a folder inside the job's folder (docs/coordinator.md).
#ifndef FTL_SERVICES_WIRE_SPEC_PATHS_H_
#define FTL_SERVICES_WIRE_SPEC_PATHS_H_

#include <functional>
#include <string>

#include "ftl/v1/job_spec.pb.h"

namespace ftl {

// Calls `visit(field, value)` for every input path field of `spec` that is set, e.g.
// ("data.path", spec.data.path); `value` may be changed in place.
void VisitInputPaths(v1::JobSpec& spec,
                     const std::function<void(const char* field, std::string& value)>& visit);

// Every relative input path made absolute against `base_dir` (and lexically normalised: "a/../b"
// becomes "b"); absolute ones are left as they are.
void ResolveInputPaths(const std::string& base_dir, v1::JobSpec* spec);

}  // namespace ftl

#endif  // FTL_SERVICES_WIRE_SPEC_PATHS_H_
