// Evaluation protocols of the paper (Sec. 4): hold-out nearest-centre rank-1 for regular and UR
// classes (Table 1), 10-fold verification accuracy and TAR at fixed FAR (LFW, Table 3), and
// coverage at a precision (the one-shot challenge, Table 2). Pure tensor/vector math.
#ifndef FTL_COMMON_EVAL_METRICS_H_
#define FTL_COMMON_EVAL_METRICS_H_

#include <torch/torch.h>

#include <cstdint>
#include <vector>

namespace ftl {

struct Rank1Result {
  double regular = 0.0;  // rank-1 accuracy over probes of regular classes (NaN if none)
  double ur = 0.0;       // ... of UR classes
  int64_t regular_probes = 0;
  int64_t ur_probes = 0;
  int64_t regular_hits = 0;
  int64_t ur_hits = 0;
};

// Rank-1 against given class centres ([N_c, D]); `has_gallery` ([N_c] bool) marks the classes
// that may be predicted.
Rank1Result NearestCenterRank1FromCenters(const torch::Tensor& centers,
                                          const torch::Tensor& has_gallery,
                                          const torch::Tensor& probes,
                                          const torch::Tensor& probe_labels,
                                          const torch::Tensor& is_regular);

// Gallery = per-class mean of the gallery features; each probe is assigned the class whose centre
// has the highest cosine similarity. gallery: [N, D] with labels [N]; probes: [M, D] with labels
// [M]; is_regular: [N_c] bool. Classes without gallery samples are never predicted.
Rank1Result NearestCenterRank1(const torch::Tensor& gallery, const torch::Tensor& gallery_labels,
                               const torch::Tensor& probes, const torch::Tensor& probe_labels,
                               const torch::Tensor& is_regular);

struct VerificationResult {
  double accuracy = 0.0;      // mean over folds
  double accuracy_std = 0.0;  // standard deviation over folds
  double tar_at_far_1e2 = 0.0;
  double tar_at_far_1e3 = 0.0;
};

// k-fold verification as LFW's protocol: for each fold, the threshold is the one with the best
// accuracy on the other folds, and the accuracy is measured on the fold. TAR at FAR f: the share
// of same pairs scoring above the lowest threshold whose false-accept rate over all different
// pairs is at most f. scores: higher = more similar; fold: 0..k-1.
VerificationResult KFoldVerification(const std::vector<double>& scores,
                                     const std::vector<bool>& same, const std::vector<int>& fold);

// Verification of consecutive pairs — rows 2k and 2k+1 of `embeddings` ([2P, D], any device and
// scale: scored by cosine similarity) with `same` [P] — in 10 contiguous folds, as InsightFace's
// verification.py does for its .bin sets (sklearn's KFold(10) without shuffling: the first P % 10
// folds one pair longer).
VerificationResult ConsecutivePairVerification(const torch::Tensor& embeddings,
                                               const std::vector<bool>& same);

// The largest share of predictions that can be accepted, most confident first, keeping precision
// at least `precision` (Table 2's Coverage@Precision).
double CoverageAtPrecision(const std::vector<double>& confidence, const std::vector<bool>& correct,
                           double precision);

}  // namespace ftl

#endif  // FTL_COMMON_EVAL_METRICS_H_
