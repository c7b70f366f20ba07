// The centre-based feature transfer of Eq. 7, and the controls that tell what it adds
// (training.stage1_third_batch): the UR centres alone, the centres plus Gaussian noise of the
// shared covariance, and Eq. 7 on a random subspace of the same rank.
#ifndef FTL_COMMON_FTL_TRANSFER_H_
#define FTL_COMMON_FTL_TRANSFER_H_

#include <torch/torch.h>

#include <cstdint>

namespace ftl {

// Eq. 7 for a batch: g~_k = c[y_u_k] + Q Q^T (g_r_k - c[y_r_k]).
// regular_features: [B, D] rich features of regular samples; regular_labels, target_labels: [B];
// centers: [N_c, D]; basis (Q): [D, k]. Returns [B, D] features labelled `target_labels`.
torch::Tensor TransferFeatures(const torch::Tensor& regular_features,
                               const torch::Tensor& regular_labels,
                               const torch::Tensor& target_labels, const torch::Tensor& centers,
                               const torch::Tensor& basis);

// "center": g~_k = c[y_u_k] ([B, D]).
torch::Tensor CenterFeatures(const torch::Tensor& target_labels, const torch::Tensor& centers);

// "center_noise": g~_k = c[y_u_k] + sum_j sqrt(sigma2_j) z_kj Q_j over the k columns of Q, i.e.
// Gaussian samples of the covariance Q diag(sigma2_1..k) Q^T around each UR centre. variances:
// [>= k] per-sample variances along Q's columns, descending (Eq. 6's V is a sum over the regular
// samples: its eigenvalues divided by their count; float64 is fine; negative ones, rounding, count
// as 0); noise z: [B, k] standard normal.
torch::Tensor CenterNoiseFeatures(const torch::Tensor& target_labels, const torch::Tensor& centers,
                                  const torch::Tensor& basis, const torch::Tensor& variances,
                                  const torch::Tensor& noise);

// The draw tags of the controls' randomness (PortableNormals' `tag`).
inline constexpr uint32_t kCenterNoiseTag = 0x6e6f6973;  // "nois"
inline constexpr uint32_t kRandomBasisTag = 0x62617365;  // "base"

// [rows, cols] float32 standard normal draws, a pure function of (seed, tag, step): Box-Muller on
// the engine's raw bits (not std::normal_distribution, whose algorithm differs between standard
// libraries), so every rank draws the same numbers.
torch::Tensor PortableNormals(uint64_t seed, uint32_t tag, int64_t step, int64_t rows,
                              int64_t cols);

// A [d, k] orthonormal basis of a uniformly random k-dimensional subspace (QR of PortableNormals),
// a pure function of (seed, step); k <= d.
torch::Tensor RandomOrthonormalBasis(uint64_t seed, int64_t step, int64_t d, int64_t k);

}  // namespace ftl

#endif  // FTL_COMMON_FTL_TRANSFER_H_
