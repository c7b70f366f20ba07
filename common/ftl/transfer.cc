#include "common/ftl/transfer.h"

#include <cmath>
#include <random>

namespace ftl {
namespace {
constexpr double kPi = 3.14159265358979323846;
}  // namespace

torch::Tensor TransferFeatures(const torch::Tensor& regular_features,
                               const torch::Tensor& regular_labels,
                               const torch::Tensor& target_labels, const torch::Tensor& centers,
                               const torch::Tensor& basis) {
  const torch::Tensor offsets = regular_features - centers.index_select(0, regular_labels);
  // Row form of Q Q^T v: (v Q) Q^T, one [B,D]x[D,k] and one [B,k]x[k,D] product.
  return centers.index_select(0, target_labels) + offsets.mm(basis).mm(basis.t());
}

torch::Tensor CenterFeatures(const torch::Tensor& target_labels, const torch::Tensor& centers) {
  return centers.index_select(0, target_labels);
}

torch::Tensor CenterNoiseFeatures(const torch::Tensor& target_labels, const torch::Tensor& centers,
                                  const torch::Tensor& basis, const torch::Tensor& variances,
                                  const torch::Tensor& noise) {
  const int64_t k = basis.size(1);
  const torch::Tensor scale =
      variances.slice(0, 0, k).clamp_min(0).sqrt().to(centers.device(), centers.scalar_type());
  return centers.index_select(0, target_labels) + (noise * scale).mm(basis.t());
}

torch::Tensor PortableNormals(uint64_t seed, uint32_t tag, int64_t step, int64_t rows,
                              int64_t cols) {
  std::seed_seq seq{tag, static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32),
                    static_cast<uint32_t>(step),
                    static_cast<uint32_t>(static_cast<uint64_t>(step) >> 32)};
  std::mt19937_64 rng(seq);
  // A uniform in (0, 1] from the top 53 bits (never 0: log stays finite).
  auto uniform = [&rng] { return (static_cast<double>(rng() >> 11) + 1.0) * 0x1.0p-53; };
  torch::Tensor out = torch::empty({rows, cols}, torch::kFloat32);
  float* p = out.data_ptr<float>();
  const int64_t n = rows * cols;
  for (int64_t i = 0; i < n; i += 2) {
    const double r = std::sqrt(-2.0 * std::log(uniform()));
    const double angle = 2.0 * kPi * uniform();
    p[i] = static_cast<float>(r * std::cos(angle));
    if (i + 1 < n) p[i + 1] = static_cast<float>(r * std::sin(angle));
  }
  return out;
}

torch::Tensor RandomOrthonormalBasis(uint64_t seed, int64_t step, int64_t d, int64_t k) {
  const torch::Tensor gaussian = PortableNormals(seed, kRandomBasisTag, step, d, k);
  return std::get<0>(torch::linalg_qr(gaussian.to(torch::kFloat64), "reduced")).to(torch::kFloat32);
}

}  // namespace ftl
