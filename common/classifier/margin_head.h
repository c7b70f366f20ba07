// The margin heads of arcface_torch (CosFace, ArcFace, the combined margin) as one function of the
// cosines, so that the model, the tests' naive references and any caller agree on one formula.
#ifndef FTL_COMMON_CLASSIFIER_MARGIN_HEAD_H_
#define FTL_COMMON_CLASSIFIER_MARGIN_HEAD_H_

#include <torch/torch.h>

#include "common/config/job_config.h"

namespace ftl {

// cosine: [B, N] cos(theta_j) between normalised features and class weights; labels: [B] int64
// column of each row's target, -1 for a row whose target is not among these columns (a sharded
// classifier's other ranks; no margin on that row), or undefined (inference: no margin). Returns s
// * cos(theta_j) with each row's target entry replaced by the head's margin:
//   m1 = 1, m3 = 0 (ArcFace): cos(theta + m2) where theta + m2 <= pi, i.e. cos(theta) >
//     cos(pi - m2); beyond it cos(theta) - m2 sin(pi - m2) (monotone, as arcface_torch), or with
//     easy_margin cos(theta) wherever cos(theta) <= 0;
//   m1 = 1, m2 = 0 (CosFace): cos(theta) - m3;
//   otherwise (combined): cos(m1 theta + m2) - m3, theta = acos(cos) clamped inside (-1, 1).
// Differentiable in `cosine`. `head.kind` must be a margin head.
torch::Tensor MarginLogits(const torch::Tensor& cosine, const torch::Tensor& labels,
                           const HeadConfig& head);

// A margin head on features f [B, D] and class weights w [N, D]: MarginLogits of the cosines
// between the normalised rows, all in float32 even inside a bf16 autocast scope (cosines near 1
// and the margin need the precision). `labels` as MarginLogits'.
torch::Tensor MarginHeadLogits(const torch::Tensor& f, const torch::Tensor& w,
                               const torch::Tensor& labels, const HeadConfig& head);

}  // namespace ftl

#endif  // FTL_COMMON_CLASSIFIER_MARGIN_HEAD_H_
