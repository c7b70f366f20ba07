// What UpdateStats produces (Algorithm 1's C, Q, h, plus d_i): the FTL state a checkpoint carries
// beside the weights.
#ifndef FTL_COMMON_TRAIN_FTL_STATISTICS_H_
#define FTL_COMMON_TRAIN_FTL_STATISTICS_H_

#include <torch/torch.h>

namespace ftl {

struct FtlStatistics {
  bool valid = false;
  torch::Tensor centers;         // [N_c, D] float32
  torch::Tensor basis;           // Q: [D, k] float32
  torch::Tensor eigenvalues;     // [D] float64, descending
  torch::Tensor mean_distances;  // [N_c] float64 (0 for UR classes)
  torch::Tensor hard_mask;       // [N] bool over the dataset
  double energy_kept = 0.0;
};

}  // namespace ftl

#endif  // FTL_COMMON_TRAIN_FTL_STATISTICS_H_
