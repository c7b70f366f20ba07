// The trainer's checkpoint, field by field: every name in the file is written and read here and
// nowhere else (Trainer::SaveCheckpoint / LoadCheckpoint / InitializeFrom, LoadTrainedModel for
// export, embedding and fine-tuning). The file is common/checkpoint/checkpoint_file.h's frame
// around safetensors: tensors and strings, no code.
//
// Metadata (decimal text): ftl.format "2", ftl.network ("<backbone>:<filter>"), ftl.classes,
// ftl.images, ftl.feature_dim, ftl.input_size, ftl.channels, ftl.position (the schedule position
// to resume at), ftl.steps ("pretrain,stage1,stage2" optimizer step counters), and optionally
// ftl.recipe (common/config/recipe.h; files written before it have none).
// Tensors: model/<name> (every parameter and buffer of FtlModel, and the classifier's entries,
// model/classifier.*: Classifier::CheckpointTensors), optimizer/<phase>/<parameter>/
// <field> for phases pretrain, stage1 and stage2 (common/optim/optimizer_state.h), and after an
// UpdateStats stats/centers, stats/basis, stats/eigenvalues, stats/mean_distances,
// stats/hard_mask (uint8), stats/energy_kept (float64, one element).
#ifndef FTL_COMMON_TRAIN_CHECKPOINT_SCHEMA_H_
#define FTL_COMMON_TRAIN_CHECKPOINT_SCHEMA_H_

#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "common/checkpoint/safetensors.h"
#include "common/train/ftl_statistics.h"

namespace ftl {

inline constexpr int64_t kCheckpointFormat = 2;

// Which job a checkpoint belongs to, as far as its tensors' shapes go.
struct CheckpointIdentity {
  std::string network;  // NetworkName(preset, shape)
  int64_t num_classes = 0;
  int64_t num_images = 0;
  int64_t feature_dim = 0;
  int64_t input_size = 0;
  int64_t channels = 0;
};

using TensorMap = std::map<std::string, torch::Tensor>;

struct TrainerCheckpoint {
  CheckpointIdentity identity;
  int64_t position = 0;
  int64_t pretrain_step = 0;
  int64_t stage1_step = 0;
  int64_t stage2_step = 0;
  std::string recipe;    // EncodeRecipe text; "" for a file written before recipes
  TensorMap model;       // by FtlModel's own names
  TensorMap classifier;  // by the classifier's names ("classifier.weight")
  std::map<std::string, TensorMap> optimizers;  // "pretrain", "stage1", "stage2" -> state
  FtlStatistics stats;                          // written when valid
};

// The optimizer phases a checkpoint holds, in order.
inline constexpr const char* kOptimizerPhases[] = {"pretrain", "stage1", "stage2"};

NamedTensors EncodeTrainerCheckpoint(const TrainerCheckpoint& checkpoint);

// DataLoss naming `path` and the entry for a missing, malformed or unknown entry; InvalidArgument
// for another format number. Tensors stay on the CPU.
absl::StatusOr<TrainerCheckpoint> DecodeTrainerCheckpoint(NamedTensors contents,
                                                          const std::string& path);

}  // namespace ftl

#endif  // FTL_COMMON_TRAIN_CHECKPOINT_SCHEMA_H_
