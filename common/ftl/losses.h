// The training losses of Sec. 3.2. Each returns a scalar averaged over the batch, so that the mean
// of R ranks' losses over batch B equals one process's loss over batch R*B.
#ifndef FTL_COMMON_FTL_LOSSES_H_
#define FTL_COMMON_FTL_LOSSES_H_

#include <torch/torch.h>

#include "common/config/job_config.h"

namespace ftl {

// Eq. 1: ||x' - x||^2. kMean averages over pixels as well as the batch (the term then stays on the
// scale of the softmax loss whatever the input size, and alpha_recon means the same thing for the
// `small` and `paper` presets); kSum sums an image's C*H*W squared errors (Eq. 1 literally) and
// averages over the batch.
torch::Tensor ReconstructionLoss(const torch::Tensor& reconstruction, const torch::Tensor& image,
                                 Reduction reduction = Reduction::kMean);

// Eq. 2: -log softmax(W f)[y], averaged over the batch. logits = W f: [B, N_c]; labels: [B] int64.
// With `log_prior` ([N_c], log of each class's share of the training images) and tau > 0, the
// softmax is taken over W f + tau * log_prior (logit adjustment; tau = 1 is Balanced Softmax).
// With `class_weights` ([N_c]), image i's loss is multiplied by class_weights[y_i] before the
// batch mean (the class-balanced loss; ClassBalancedWeights).
torch::Tensor SoftmaxLoss(const torch::Tensor& logits, const torch::Tensor& labels,
                          const torch::Tensor& log_prior = torch::Tensor(), double tau = 0.0,
                          const torch::Tensor& class_weights = torch::Tensor());

// Cui et al. (CVPR 2019): class c's weight (1 - beta) / (1 - beta^n_c) for its n_c training images
// (the inverse "effective number of samples"), scaled so that the N_c weights sum to N_c. A class
// without images counts as one. [N_c] float32 from int64 or float `counts`; beta in (0, 1).
torch::Tensor ClassBalancedWeights(const torch::Tensor& counts, double beta);

// The per-class tensors the softmax loss's options need, from each class's training-image count
// ([N_c]; required when either option is on): log of each class's share of the images (a class
// without images counted as one, not log 0) for logit adjustment, and ClassBalancedWeights for
// the class-balanced loss; float32 on `device`, undefined where the option is off.
struct ClassLossTensors {
  torch::Tensor log_prior;
  torch::Tensor class_weights;
};
ClassLossTensors ClassLossTensorsOf(const LossWeights& loss, const torch::Tensor& class_counts,
                                    int64_t num_classes, torch::Device device);

// Eq. 3, m-L2: ||W^T f||^2 with the paper's W^T f read as the classifier output W f (the only
// reading with matching shapes). kSum: the squared norm of the logit vector, averaged over the
// batch; kMean: the mean squared logit over batch x classes (kSum / N_c). With free logits,
// CE + a * sum_j z_j^2 is stationary at z_j = (1[j = y] - p_j) / (2a), which under kSum caps the
// target probability far below 1 once N_c is large; under kMean the per-logit strength is
// alpha / N_c, which makes the paper's 0.25 for 10K+ classes and 0.001 for 10 comparable
// (docs/config.md derives it).
torch::Tensor MetricL2Loss(const torch::Tensor& logits, Reduction reduction = Reduction::kMean);

// The weighted terms of Eq. 4, kept apart for reporting.
struct LossTerms {
  torch::Tensor sfmx;  // undefined when not computed
  torch::Tensor recon;
  torch::Tensor reg;
  torch::Tensor total;
};

// Eq. 4 (any term with an undefined input or zero weight is left out of `total`).
LossTerms CombineLosses(const LossWeights& weights, const torch::Tensor& sfmx,
                        const torch::Tensor& recon, const torch::Tensor& reg);

}  // namespace ftl

#endif  // FTL_COMMON_FTL_LOSSES_H_
