// The model inside a trainer checkpoint, without the job that made it: for export, embedding and
// fine-tuning. The checkpoint records (classes, images, D, input size, channels) and its network
// (backbone and filter), which give the layers; its weights must fit them exactly.
#ifndef FTL_COMMON_TRAIN_TRAINED_MODEL_H_
#define FTL_COMMON_TRAIN_TRAINED_MODEL_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "common/config/job_config.h"
#include "common/model/ftl_model.h"

namespace ftl {

struct TrainedModel {       // Enc, Dec and R: the classifier is not built (its shape is checked)
  FtlModel model{nullptr};  // on the CPU, in eval mode
  ModelShape shape;
  std::string preset;
  int64_t num_classes = 0;
  std::string file;  // the checkpoint it came from
  // data.center_crop it was trained with (the checkpoint's recipe; 1, the whole image, for a
  // checkpoint written before recipes): export records it, embed and verify crop so by default.
  double center_crop = 1.0;
};

// `file_or_dir`: a checkpoint, or a folder (its newest checkpoint that loads). NotFound for a
// missing file or a folder without checkpoints, DataLoss for a damaged one or weights that do not
// fit its network, InvalidArgument for a file that is not an FTL checkpoint of this build's
// format or names an unknown network.
absl::StatusOr<TrainedModel> LoadTrainedModel(const std::string& file_or_dir);

}  // namespace ftl

#endif  // FTL_COMMON_TRAIN_TRAINED_MODEL_H_
