#include "services/wire/wire.h"

#include "google/protobuf/util/json_util.h"

namespace ftl {

std::string ToJson(const google::protobuf::Message& message, JsonLayout layout,
                   JsonDefaults defaults) {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = layout == JsonLayout::kIndented;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = defaults == JsonDefaults::kPrint;
  // Cannot fail for a message we built: every field type has a JSON form.
  (void)google::protobuf::util::MessageToJsonString(message, &json, options);
  return json;
}

v1::PhaseReport PhaseReportToProto(const PhaseReport& report) {
  v1::PhaseReport proto;
  proto.set_phase(report.phase);
  proto.set_round(report.round);
  proto.set_iterations(report.iterations);
  proto.set_seconds(report.seconds);
  proto.set_images(report.images);
  proto.mutable_losses()->insert(report.losses.begin(), report.losses.end());
  proto.mutable_metrics()->insert(report.metrics.begin(), report.metrics.end());
  proto.set_checkpoint(report.checkpoint);
  return proto;
}

}  // namespace ftl
