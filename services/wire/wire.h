// Conversions at the wire edge: the plain structs of common/ to their ftl.v1 messages, and
// messages to JSON as the CLI, the worker and the tools print and store them.
#ifndef FTL_SERVICES_WIRE_WIRE_H_
#define FTL_SERVICES_WIRE_WIRE_H_

#include <string>

#include "common/train/phase_report.h"
#include "ftl/v1/job_spec.pb.h"
#include "google/protobuf/message.h"

namespace ftl {

enum class JsonLayout { kOneLine, kIndented };
enum class JsonDefaults {
  kOmit,   // unset fields left out (a spec written back reads as the same spec)
  kPrint,  // scalar fields at their default printed too (a reader sees every field)
};

// The message as JSON with the .proto field names (snake_case).
std::string ToJson(const google::protobuf::Message& message, JsonLayout layout,
                   JsonDefaults defaults);

// The wire form of a phase's report (summary.json, eval.json, the coordinator's job history).
v1::PhaseReport PhaseReportToProto(const PhaseReport& report);

}  // namespace ftl

#endif  // FTL_SERVICES_WIRE_WIRE_H_
