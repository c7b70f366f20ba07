// Safetensors, the code-free tensor format the field exchanges weights in (Hugging Face's
// `safetensors`; what `safetensors.torch.load_file` / `safetensors.numpy.load_file` read), and the
// payload of our checkpoints. Reading one runs nothing: no pickle, no TorchScript.
//
// Layout (little-endian): 8 bytes N, then N bytes of UTF-8 JSON
//   {"NAME": {"dtype": "F32", "shape": [2, 3], "data_offsets": [BEGIN, END]}, ...,
//    "__metadata__": {"KEY": "VALUE", ...}}
// (written padded with spaces to a multiple of 8), then the data buffer; offsets count from the
// buffer's start, each tensor row-major.
//
// A decoder refuses (DataLoss, naming the source and the tensor or byte offset): a header length
// beyond the file or above 100 MB, a header that is not such a JSON object, an unknown dtype, a
// negative or overflowing shape, offsets whose size is not the shape's, that overlap, leave a hole
// or run past the end, and BOOL bytes other than 0 and 1. Decoding copies: the tensors own their
// memory and do not refer to `bytes`.
#ifndef FTL_COMMON_CHECKPOINT_SAFETENSORS_H_
#define FTL_COMMON_CHECKPOINT_SAFETENSORS_H_

#include <torch/torch.h>

#include <map>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace ftl {

struct NamedTensors {
  std::map<std::string, torch::Tensor> tensors;  // any device; written from the CPU
  std::map<std::string, std::string> metadata;   // "__metadata__"
};

// The file's bytes. dtypes float64/32/16, bfloat16, int64/32/16/8, uint8 and bool; InvalidArgument
// for any other, for an undefined tensor or for a name "__metadata__".
absl::StatusOr<std::string> EncodeSafetensors(const NamedTensors& contents);

// Parses `bytes` (as above); `source` names them in messages (a path). Tensors on the CPU.
absl::StatusOr<NamedTensors> DecodeSafetensors(std::string_view bytes, const std::string& source);

// Whether `bytes` start as a safetensors file does (a plausible length, then '{').
bool LooksLikeSafetensors(std::string_view bytes);

// EncodeSafetensors to `path`, atomically (common/util/file.h).
absl::Status WriteSafetensorsFile(const std::string& path, const NamedTensors& contents);
// The file at `path` decoded; NotFound for a missing file.
absl::StatusOr<NamedTensors> ReadSafetensorsFile(const std::string& path);

}  // namespace ftl

#endif  // FTL_COMMON_CHECKPOINT_SAFETENSORS_H_
