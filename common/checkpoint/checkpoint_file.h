// Checkpoint files: a LibTorch archive inside a small frame (magic, length, CRC-32), written
// atomically (temp file, fsync, rename, fsync of the folder). A torn, truncated or foreign file is
// refused with a message saying which, never half-loaded.
#ifndef FTL_COMMON_CHECKPOINT_CHECKPOINT_FILE_H_
#define FTL_COMMON_CHECKPOINT_CHECKPOINT_FILE_H_

#include <torch/torch.h>

#include <string>

#include "absl/status/status.h"
#include "common/checkpoint/checkpoint_names.h"

namespace ftl {

// Serialises `archive` to `path` atomically: after a crash, `path` is either the old file or the
// complete new one.
absl::Status WriteCheckpointFile(const std::string& path, torch::serialize::OutputArchive& archive);

// Verifies the frame and loads the archive, its tensors onto `device` (where they were saved when
// unset: a GPU-trained checkpoint can be evaluated on a CPU machine). DataLoss for a truncated or
// corrupt file, InvalidArgument for a file that is not an FTL checkpoint, NotFound for a missing
// one.
absl::Status ReadCheckpointFile(const std::string& path, torch::serialize::InputArchive* archive,
                                c10::optional<torch::Device> device = c10::nullopt);

}  // namespace ftl

#endif  // FTL_COMMON_CHECKPOINT_CHECKPOINT_FILE_H_
