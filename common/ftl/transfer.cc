#include "common/ftl/transfer.h"

namespace ftl {

torch::Tensor TransferFeatures(const torch::Tensor& regular_features,
                               const torch::Tensor& regular_labels,
                               const torch::Tensor& target_labels, const torch::Tensor& centers,
                               const torch::Tensor& basis) {
  const torch::Tensor offsets = regular_features - centers.index_select(0, regular_labels);
  // Row form of Q Q^T v: (v Q) Q^T, one [B,D]x[D,k] and one [B,k]x[k,D] product.
  return centers.index_select(0, target_labels) + offsets.mm(basis).mm(basis.t());
}

}  // namespace ftl
