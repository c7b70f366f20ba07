#include "common/classifier/margin_head.h"

#include <cmath>

namespace ftl {

torch::Tensor MarginLogits(const torch::Tensor& cosine, const torch::Tensor& labels,
                           const HeadConfig& head) {
  TORCH_CHECK(head.kind != HeadKind::kSoftmax, "MarginLogits needs a margin head");
  if (!labels.defined()) return cosine * head.scale;
  const torch::Tensor y = labels.to(cosine.device(), torch::kInt64);
  const torch::Tensor index = y.clamp_min(0).unsqueeze(1);
  const torch::Tensor target = cosine.gather(1, index).squeeze(1);
  torch::Tensor margined;
  if (head.m1 == 1.0 && head.m3 == 0.0) {
    const double m = head.m2;
    // sin(theta) >= 0 on [0, pi]; the floor keeps sqrt's gradient finite at cos = +-1.
    const torch::Tensor sin_theta = (1.0 - target * target).clamp_min(1e-12).sqrt();
    const torch::Tensor shifted = target * std::cos(m) - sin_theta * std::sin(m);
    if (head.easy_margin) {
      margined = torch::where(target > 0, shifted, target);
    } else {
      margined =
          torch::where(target > std::cos(M_PI - m), shifted, target - std::sin(M_PI - m) * m);
    }
  } else if (head.m1 == 1.0 && head.m2 == 0.0) {
    margined = target - head.m3;
  } else {
    const torch::Tensor theta = target.clamp(-1.0 + 1e-7, 1.0 - 1e-7).acos();
    margined = (theta * head.m1 + head.m2).cos() - head.m3;
  }
  // A row whose target is in another rank's columns (-1) writes its own cosine back.
  margined = torch::where(y >= 0, margined, target);
  return cosine.scatter(1, index, margined.unsqueeze(1)) * head.scale;
}

torch::Tensor MarginHeadLogits(const torch::Tensor& f, const torch::Tensor& w,
                               const torch::Tensor& labels, const HeadConfig& head) {
  namespace F = torch::nn::functional;
  c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::DispatchKey::AutocastCUDA);
  const auto unit = F::NormalizeFuncOptions().dim(1).eps(1e-12);
  const torch::Tensor cosine = torch::mm(F::normalize(f.to(torch::kFloat32), unit),
                                         F::normalize(w.to(torch::kFloat32), unit).t());
  return MarginLogits(cosine, labels, head);
}

}  // namespace ftl
