// The model inside a trainer checkpoint, without the job that made it: for export, embedding and
// fine-tuning. The checkpoint records (classes, images, D, input size, channels) and its network
// (backbone and filter); for older checkpoints without the network the layer widths are those of
// the preset whose layers match the stored weights.
#ifndef FTL_COMMON_TRAIN_TRAINED_MODEL_H_
#define FTL_COMMON_TRAIN_TRAINED_MODEL_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "common/config/job_config.h"
#include "common/model/ftl_model.h"

namespace ftl {

// The format number Trainer::SaveCheckpoint writes under "format".
inline constexpr int64_t kCheckpointFormat = 1;

// The "network" entry of a checkpoint: "<backbone>:<filter>" (e.g. "iresnet18:mlp") as uint8
// bytes. Checkpoints written before the IResNet backbones have none (they are small or paper).
std::string NetworkName(const std::string& preset, const ModelShape& shape);
torch::Tensor NetworkEntry(const std::string& network);
std::string NetworkFromEntry(const torch::Tensor& entry);

struct TrainedModel {
  FtlModel model{nullptr};  // on the CPU, in eval mode
  ModelShape shape;
  std::string preset;
  int64_t num_classes = 0;
  std::string file;  // the checkpoint it came from
};

// `file_or_dir`: a checkpoint, or a folder (its newest checkpoint that loads). NotFound for a
// missing file or a folder without checkpoints, DataLoss for a damaged one, InvalidArgument for
// a file that is not an FTL checkpoint or whose weights match no preset.
absl::StatusOr<TrainedModel> LoadTrainedModel(const std::string& file_or_dir);

}  // namespace ftl

#endif  // FTL_COMMON_TRAIN_TRAINED_MODEL_H_
