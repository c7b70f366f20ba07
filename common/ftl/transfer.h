// The centre-based feature transfer of Eq. 7.
#ifndef FTL_COMMON_FTL_TRANSFER_H_
#define FTL_COMMON_FTL_TRANSFER_H_

#include <torch/torch.h>

namespace ftl {

// Eq. 7 for a batch: g~_k = c[y_u_k] + Q Q^T (g_r_k - c[y_r_k]).
// regular_features: [B, D] rich features of regular samples; regular_labels, target_labels: [B];
// centers: [N_c, D]; basis (Q): [D, k]. Returns [B, D] features labelled `target_labels`.
torch::Tensor TransferFeatures(const torch::Tensor& regular_features,
                               const torch::Tensor& regular_labels,
                               const torch::Tensor& target_labels, const torch::Tensor& centers,
                               const torch::Tensor& basis);

}  // namespace ftl

#endif  // FTL_COMMON_FTL_TRANSFER_H_
