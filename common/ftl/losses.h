// The training losses of Sec. 3.2. Each returns a scalar averaged over the batch, so that the mean
// of R ranks' losses over batch B equals one process's loss over batch R*B.
#ifndef FTL_COMMON_FTL_LOSSES_H_
#define FTL_COMMON_FTL_LOSSES_H_

#include <torch/torch.h>

#include "common/config/job_config.h"

namespace ftl {

// Eq. 1: ||x' - x||^2, averaged over pixels as well as the batch (a per-pixel mean keeps the term
// on the scale of the softmax loss whatever the input size; Eq. 4's alpha_recon then means the same
// thing for the `small` and `paper` presets).
torch::Tensor ReconstructionLoss(const torch::Tensor& reconstruction, const torch::Tensor& image);

// Eq. 2: -log softmax(W f)[y], averaged over the batch. logits = W f: [B, N_c]; labels: [B] int64.
torch::Tensor SoftmaxLoss(const torch::Tensor& logits, const torch::Tensor& labels);

// Eq. 3, m-L2: ||W^T f||^2 with the paper's W^T f read as the classifier output W f (the only
// reading with matching shapes): the squared norm of the logit vector, averaged over the batch.
torch::Tensor MetricL2Loss(const torch::Tensor& logits);

// The weighted terms of Eq. 4, kept apart for reporting.
struct LossTerms {
  torch::Tensor sfmx;   // undefined when not computed
  torch::Tensor recon;
  torch::Tensor reg;
  torch::Tensor total;
};

// Eq. 4 (any term with an undefined input or zero weight is left out of `total`).
LossTerms CombineLosses(const LossWeights& weights, const torch::Tensor& sfmx,
                        const torch::Tensor& recon, const torch::Tensor& reg);

}  // namespace ftl

#endif  // FTL_COMMON_FTL_LOSSES_H_
