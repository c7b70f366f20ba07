// Checkpoint files: named tensors and string metadata as safetensors (common/checkpoint/
// safetensors.h) inside a small frame (magic "FTLCKPT2", payload length, CRC-32), written
// atomically (temp file, fsync, rename, fsync of the folder). A torn, truncated or foreign file is
// refused with a message saying which, never half-loaded.
//
// Reading parses data only. The frame of format 1 ("FTLCKPT1", a LibTorch archive) is refused
// without being opened: such an archive is a TorchScript module, and its code runs while it loads
// (a crafted one can read or write any file the process can).
#ifndef FTL_COMMON_CHECKPOINT_CHECKPOINT_FILE_H_
#define FTL_COMMON_CHECKPOINT_CHECKPOINT_FILE_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/checkpoint/checkpoint_names.h"
#include "common/checkpoint/safetensors.h"

namespace ftl {

// Serialises `contents` to `path` atomically: after a crash, `path` is either the old file or the
// complete new one.
absl::Status WriteCheckpointFile(const std::string& path, const NamedTensors& contents);

// Verifies the frame and decodes the payload (tensors on the CPU). NotFound for a missing file,
// InvalidArgument for a file that is not an FTL checkpoint (format 1 included, with why),
// DataLoss for a truncated or corrupt one.
absl::StatusOr<NamedTensors> ReadCheckpointFile(const std::string& path);

// Whether `bytes` begin with a checkpoint frame of any format (this build's or format 1).
bool LooksLikeCheckpoint(std::string_view bytes);

}  // namespace ftl

#endif  // FTL_COMMON_CHECKPOINT_CHECKPOINT_FILE_H_
