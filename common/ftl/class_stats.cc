#include "common/ftl/class_stats.h"

namespace ftl {
namespace {

torch::TensorOptions F64(torch::Device device) {
  return torch::TensorOptions().dtype(torch::kFloat64).device(device);
}

}  // namespace

CenterAccumulator::CenterAccumulator(int64_t num_classes, int64_t dim, torch::Device device)
    : filtered_sum_(torch::zeros({num_classes, dim}, F64(device))),
      filtered_count_(torch::zeros({num_classes}, F64(device))),
      all_sum_(torch::zeros({num_classes, dim}, F64(device))),
      all_count_(torch::zeros({num_classes}, F64(device))) {}

void CenterAccumulator::Add(const torch::Tensor& g, const torch::Tensor& g_flip,
                            const torch::Tensor& labels, const torch::Tensor& passes_yaw) {
  const torch::Device device = all_sum_.device();
  const torch::Tensor pair_sum = g.to(device, torch::kFloat64) + g_flip.to(device, torch::kFloat64);
  const torch::Tensor y = labels.to(device);
  const torch::Tensor two = torch::full({y.size(0)}, 2.0, F64(device));
  all_sum_.index_add_(0, y, pair_sum);
  all_count_.index_add_(0, y, two);
  if (!passes_yaw.defined()) {
    filtered_sum_.index_add_(0, y, pair_sum);
    filtered_count_.index_add_(0, y, two);
    return;
  }
  const torch::Tensor keep = passes_yaw.to(device, torch::kFloat64);
  filtered_sum_.index_add_(0, y, pair_sum * keep.unsqueeze(1));
  filtered_count_.index_add_(0, y, two * keep);
}

ClassCenters FinishCenters(const CenterAccumulator& sums) {
  const torch::Tensor filtered_ok = sums.filtered_count() > 0;
  const torch::Tensor any = sums.all_count() > 0;
  const torch::Tensor filtered =
      sums.filtered_sum() / sums.filtered_count().clamp_min(1.0).unsqueeze(1);
  const torch::Tensor all = sums.all_sum() / sums.all_count().clamp_min(1.0).unsqueeze(1);
  ClassCenters result;
  result.centers = torch::where(filtered_ok.unsqueeze(1), filtered, all).to(torch::kFloat32);
  result.yaw_fallback_classes = (any & ~filtered_ok).sum().item<int64_t>();
  result.empty_classes = (~any).sum().item<int64_t>();
  return result;
}

SpreadAccumulator::SpreadAccumulator(int64_t num_classes, int64_t dim, torch::Device device)
    : covariance_(torch::zeros({dim, dim}, F64(device))),
      distance_sum_(torch::zeros({num_classes}, F64(device))),
      count_(torch::zeros({num_classes}, F64(device))) {}

void SpreadAccumulator::Add(const torch::Tensor& g, const torch::Tensor& labels,
                            const torch::Tensor& centers, const torch::Tensor& is_regular) {
  const torch::Device device = covariance_.device();
  const torch::Tensor y = labels.to(device);
  const torch::Tensor regular = is_regular.to(device).index_select(0, y);
  if (!regular.any().item<bool>()) return;
  const torch::Tensor rows = regular.nonzero().squeeze(1);
  const torch::Tensor yr = y.index_select(0, rows);
  const torch::Tensor diff = g.to(device, torch::kFloat64).index_select(0, rows) -
                             centers.to(device, torch::kFloat64).index_select(0, yr);
  covariance_.add_(diff.t().mm(diff));
  distance_sum_.index_add_(0, yr, diff.norm(2, 1));
  count_.index_add_(0, yr, torch::ones({yr.size(0)}, F64(device)));
}

torch::Tensor SpreadAccumulator::mean_distances() const {
  return distance_sum_ / count_.clamp_min(1.0);
}

torch::Tensor HardSampleMask(const torch::Tensor& g, const torch::Tensor& labels,
                             const torch::Tensor& centers, const torch::Tensor& mean_distances,
                             const torch::Tensor& is_regular) {
  const torch::Device device = g.device();
  const torch::Tensor y = labels.to(device);
  const torch::Tensor distance =
      (g.to(torch::kFloat64) - centers.to(device, torch::kFloat64).index_select(0, y)).norm(2, 1);
  return is_regular.to(device).index_select(0, y) &
         (distance > mean_distances.to(device, torch::kFloat64).index_select(0, y));
}

TransferBasis ComputeTransferBasis(const torch::Tensor& covariance, int components, double energy) {
  TransferBasis basis;
  const torch::Tensor v = covariance.to(torch::kFloat64).cpu();
  const int64_t dim = v.size(0);
  // eigh returns ascending eigenvalues; V is symmetric PSD up to rounding.
  auto [values, vectors] = torch::linalg_eigh(0.5 * (v + v.t()), "L");
  values = values.flip(0).clamp_min(0.0);
  vectors = vectors.flip(1);
  basis.eigenvalues = values;
  const double trace = values.sum().item<double>();
  if (trace <= 0.0) {
    basis.q = torch::zeros({dim, 0});
    return basis;
  }
  const torch::Tensor cumulative = values.cumsum(0) / trace;
  int64_t k;
  if (components > 0) {
    k = std::min<int64_t>(components, dim);
  } else {
    // The fewest leading components whose share reaches `energy` (guarding rounding at 1.0).
    k = (cumulative < energy - 1e-12).sum().item<int64_t>() + 1;
    k = std::min<int64_t>(k, dim);
  }
  basis.components = k;
  basis.energy_kept = cumulative[k - 1].item<double>();
  basis.q = vectors.slice(1, 0, k).to(torch::kFloat32).contiguous();
  return basis;
}

}  // namespace ftl
