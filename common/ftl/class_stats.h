// UpdateStats math (Sec. 3.3, Algorithm 1): class centres (Eq. 5), the shared intra-class
// covariance V (Eq. 6, as the D x D outer-product sum), mean distances d_i, the hard list h, and
// the PCA transfer basis Q.
//
// Everything is an accumulator over batches of features, so a rank can accumulate its shard and
// an all-reduce-sum of `tensors()` gives the totals one process would compute over all data.
// Sums are kept in float64: the all-reduce order then does not matter to 1e-5.
#ifndef FTL_COMMON_FTL_CLASS_STATS_H_
#define FTL_COMMON_FTL_CLASS_STATS_H_

#include <torch/torch.h>

#include <cstdint>
#include <vector>

namespace ftl {

// Sums for Eq. 5. Two sets: over samples passing the yaw filter, and over all samples (the
// fallback for a class none of whose samples pass: its centre is the flip-averaged mean of all).
class CenterAccumulator {
 public:
  // The sums live on `device` (the features' device: no host round trip per batch).
  CenterAccumulator(int64_t num_classes, int64_t dim, torch::Device device = torch::kCPU);

  // g, g_flip: [B, D] features of the images and their horizontal flips; labels: [B] int64;
  // passes_yaw: [B] bool, or undefined when no yaw is known (every sample passes).
  void Add(const torch::Tensor& g, const torch::Tensor& g_flip, const torch::Tensor& labels,
           const torch::Tensor& passes_yaw);

  // The tensors to all-reduce (sum) across ranks, in place.
  std::vector<torch::Tensor> tensors() {
    return {filtered_sum_, filtered_count_, all_sum_, all_count_};
  }

  const torch::Tensor& filtered_sum() const { return filtered_sum_; }
  const torch::Tensor& filtered_count() const { return filtered_count_; }
  const torch::Tensor& all_sum() const { return all_sum_; }
  const torch::Tensor& all_count() const { return all_count_; }

 private:
  torch::Tensor filtered_sum_, filtered_count_, all_sum_, all_count_;  // float64
};

struct ClassCenters {
  torch::Tensor centers;         // [N_c, D] float32; zero for a class with no samples
  int64_t yaw_fallback_classes;  // classes with samples, none passing the yaw filter
  int64_t empty_classes;         // classes with no samples at all
};

// Eq. 5: c_i = (1 / 2|Omega_i|) sum_{k in Omega_i} (g_ik + g_bar_ik).
ClassCenters FinishCenters(const CenterAccumulator& sums);

// Sums for Eq. 6 and Algorithm 1's d_i over regular classes only.
class SpreadAccumulator {
 public:
  SpreadAccumulator(int64_t num_classes, int64_t dim, torch::Device device = torch::kCPU);

  // g: [B, D]; labels: [B]; centers: [N_c, D]; is_regular: [N_c] bool.
  void Add(const torch::Tensor& g, const torch::Tensor& labels, const torch::Tensor& centers,
           const torch::Tensor& is_regular);

  std::vector<torch::Tensor> tensors() { return {covariance_, distance_sum_, count_}; }

  // V = sum_i sum_k (g_ik - c_i)(g_ik - c_i)^T over regular classes: [D, D] float64.
  const torch::Tensor& covariance() const { return covariance_; }
  // d_i = mean_k ||g_ik - c_i||; zero for a UR or empty class: [N_c] float64.
  torch::Tensor mean_distances() const;

 private:
  torch::Tensor covariance_, distance_sum_, count_;
};

// Algorithm 1's hard list membership: regular samples with ||g - c_y|| > d_y. Returns [B] bool
// on g's device.
torch::Tensor HardSampleMask(const torch::Tensor& g, const torch::Tensor& labels,
                             const torch::Tensor& centers, const torch::Tensor& mean_distances,
                             const torch::Tensor& is_regular);

struct TransferBasis {
  torch::Tensor q;            // [D, k] float32, orthonormal columns, leading eigenvectors of V
  torch::Tensor eigenvalues;  // [D] float64, descending
  int64_t components = 0;     // k
  double energy_kept = 0.0;   // sum of the k leading eigenvalues / trace
};

// Q = PCA(V). With components > 0, keeps that many (capped at D); otherwise the fewest whose
// eigenvalues hold at least `energy` of the trace. A zero V gives k = 0 and an empty Q.
TransferBasis ComputeTransferBasis(const torch::Tensor& covariance, int components, double energy);

}  // namespace ftl

#endif  // FTL_COMMON_FTL_CLASS_STATS_H_
