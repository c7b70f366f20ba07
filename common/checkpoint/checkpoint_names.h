// Where a job's checkpoints live and which one to load: file names, listing, pruning, and "the
// newest one that loads". No LibTorch: the coordinator names checkpoints too.
#ifndef FTL_COMMON_CHECKPOINT_CHECKPOINT_NAMES_H_
#define FTL_COMMON_CHECKPOINT_CHECKPOINT_NAMES_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace ftl {

// The file a job's checkpoint at schedule `position` is written to: dir/ckpt-NNNNNN.ftlckpt.
std::string CheckpointFileName(const std::string& dir, int64_t position);

// Checkpoint files ("*.ftlckpt") in `dir`, oldest first by name.
std::vector<std::string> ListCheckpoints(const std::string& dir);

// A checkpoint temp file (NAME.ftlckpt.tmp.PID) untouched this long is a torn write.
inline constexpr std::chrono::minutes kTornCheckpointAge{10};

// Removes all but the newest `keep` checkpoints in `dir`, and temp files of torn checkpoint
// writes older than kTornCheckpointAge.
void PruneCheckpoints(const std::string& dir, int keep);

// Loads a checkpoint with `load`: `file_or_dir` itself when it is a file, else the newest file in
// the folder that `load` accepts, trying older ones (with a log line) when a newer one is damaged.
// Returns the file loaded; NotFound for a folder without checkpoints, else the last error.
absl::StatusOr<std::string> LoadNewestCheckpoint(
    const std::string& file_or_dir, const std::function<absl::Status(const std::string&)>& load);

}  // namespace ftl

#endif  // FTL_COMMON_CHECKPOINT_CHECKPOINT_NAMES_H_
