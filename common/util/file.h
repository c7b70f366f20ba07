// Whole-file reads and crash-safe whole-file writes, in one place.
#ifndef FTL_COMMON_UTIL_FILE_H_
#define FTL_COMMON_UTIL_FILE_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace ftl {

// The file's bytes. NotFound when it cannot be opened ("<path>: cannot open"), DataLoss when
// reading fails part-way.
absl::StatusOr<std::string> ReadFileToString(const std::string& path);

// Writes `contents` to `path` so that after a crash `path` is either the old file or the complete
// new one: a temporary file beside it (path.tmp.<pid>), fsync, rename, fsync of the folder. On
// failure the temporary file is removed and `path` is untouched; Internal names the step.
absl::Status WriteFileAtomically(const std::string& path, std::string_view contents);

}  // namespace ftl

#endif  // FTL_COMMON_UTIL_FILE_H_
