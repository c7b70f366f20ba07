// Job specs: JSON text through the parser and the range checks every submission goes through.
#include <cstdint>
#include <string>

#include "common/config/job_spec_conversion.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto spec = ftl::JobSpecFromJson(std::string(reinterpret_cast<const char*>(data), size));
  if (!spec.ok()) return 0;
  auto config = ftl::JobConfigFromSpec(*spec);
  if (config.ok()) {
    // What admission accepted must be a trainable shape.
    if (config->model.input_size <= 0 || config->model.feature_dim <= 0 ||
        config->training.batch_size <= 0) {
      __builtin_trap();
    }
  }
  return 0;
}
