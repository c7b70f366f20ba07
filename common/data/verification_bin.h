// InsightFace's verification sets (lfw.bin, cfp_fp.bin, agedb_30.bin, ...): a Python pickle of
// (list of encoded images, list of bool), pairs being images 2k and 2k+1. Read by a decoder of
// the few pickle opcodes those files use (protocols 2-5, Python 2's str as bytes, and Python 3's
// bytes at protocol 2 — _codecs.encode(text, "latin1"), recognised as data, never called); any
// other opcode — above all the ones that import or call (GLOBAL, REDUCE, BUILD, NEWOBJ, INST, OBJ)
// — is refused with its name and offset. Nothing is ever executed.
#ifndef FTL_COMMON_DATA_VERIFICATION_BIN_H_
#define FTL_COMMON_DATA_VERIFICATION_BIN_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace ftl {

struct VerificationBin {
  std::vector<std::string> images;  // encoded (JPEG, PNG, ...), 2 per pair
  std::vector<bool> same;           // one per pair
};

// InvalidArgument naming the offset for anything that is not such a pickle (truncated, another
// structure, a disallowed opcode, images not twice the pairs).
absl::StatusOr<VerificationBin> ParseVerificationBin(const std::string& bytes);

// Reads and parses a file; messages name the file.
absl::StatusOr<VerificationBin> ReadVerificationBin(const std::string& path);

}  // namespace ftl

#endif  // FTL_COMMON_DATA_VERIFICATION_BIN_H_
