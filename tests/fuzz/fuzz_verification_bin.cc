// InsightFace .bin (a pickle subset): any input gives a status or a set with two images per pair;
// never a crash, an allocation beyond the input, or anything executed.
#include <cstdint>
#include <string>

#include "common/data/verification_bin.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<ftl::VerificationBin> bin = ftl::ParseVerificationBin(bytes);
  if (bin.ok() && bin->images.size() != 2 * bin->same.size()) __builtin_trap();
  return 0;
}
