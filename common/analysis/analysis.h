// Looking inside a trained model, as the paper's figures do:
//   Fig. 4a  how well PickOne / AvgAll / AvgFlip estimate a class centre from 1..20 images;
//   Fig. 6   decoded class centres;
//   Fig. 7   decoded transferred features c_i + Q Q^T (g_j - c_j) between identities;
//   Fig. 8   decoded interpolations: plain, non-identity and identity.
// Pictures are PNG grids written with OpenCV; rows are labelled in the picture.
#ifndef FTL_COMMON_ANALYSIS_ANALYSIS_H_
#define FTL_COMMON_ANALYSIS_ANALYSIS_H_

#include <torch/torch.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/data/dataset.h"
#include "common/model/ftl_model.h"
#include "common/train/trainer.h"

namespace ftl {

struct CenterErrorRow {
  std::string method;       // "pick_one", "avg_all", "avg_flip"
  int images = 0;           // images the estimate may use
  double mean_error = 0.0;  // 1 - cos(estimate, reference centre), averaged over classes and draws
  double std_error = 0.0;
  int classes = 0;  // classes with more than `images` images
};

// For every regular class, the reference centre is the flip-averaged mean of g over all its
// images; each estimator draws `draws` random subsets of each size smaller than the class (a size
// uses only the classes with more images). Classes are from `regular` ([N_c] bool). No row for a
// size that no class exceeds.
std::vector<CenterErrorRow> CenterEstimationError(FtlModel& model, const Dataset& dataset,
                                                  const torch::Tensor& regular,
                                                  const std::vector<int>& sizes, int draws,
                                                  uint64_t seed);
absl::Status WriteCenterErrorCsv(const std::string& path, const std::vector<CenterErrorRow>& rows);

// Fig. 6: per shown class a training image above the decoded centre Dec(c_i). Up to `classes`
// classes, half regular (most images first) and half UR.
absl::Status WriteCenterPicture(FtlModel& model, const Dataset& dataset, const FtlStatistics& stats,
                                const torch::Tensor& regular, const std::string& path,
                                int classes = 8);

// Fig. 7: the largest regular class j's images and decodings on top; below, one row per UR class
// i: Dec(c_i), then Dec(c_i + Q Q^T (g_jk - c_j)) for each shown image k of j.
absl::Status WriteTransferPicture(FtlModel& model, const Dataset& dataset,
                                  const FtlStatistics& stats, const torch::Tensor& regular,
                                  const std::string& path, int samples = 6, int ur_rows = 4);

// Fig. 8: from an image of class 1 toward one of class 2, a in [0, 1]:
//   plain        Dec(g_1 + a (g_2 - g_1))
//   non-identity Dec(c_1 + a Q Q^T (g_2 - c_2))
//   identity     Dec(g_1 + a (c_2 - c_1))
absl::Status WriteInterpolationPicture(FtlModel& model, const Dataset& dataset,
                                       const FtlStatistics& stats, const torch::Tensor& regular,
                                       const std::string& path, int steps = 7);

}  // namespace ftl

#endif  // FTL_COMMON_ANALYSIS_ANALYSIS_H_
