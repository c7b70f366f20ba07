#include "common/classifier/sharded_classifier.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/classifier/distributed_ops.h"
#include "common/classifier/margin_head.h"
#include "common/ftl/losses.h"
#include "common/model/autocast.h"

namespace ftl {
namespace {

constexpr char kWeightName[] = "classifier.weight";

// splitmix64's finaliser: one generator seed per (seed, block), well apart for nearby inputs.
uint64_t BlockSeed(uint64_t seed, int64_t block) {
  uint64_t z = seed + 0x9E3779B97F4A7C15ULL * (static_cast<uint64_t>(block) + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// Rows [range.start, range.end()) of the R-independent initial W.
torch::Tensor InitialRows(const ClassRange& range, int64_t num_classes, int64_t dim,
                          uint64_t seed) {
  const int64_t block_rows = ShardedClassifier::kInitBlockRows;
  const double bound = 1.0 / std::sqrt(static_cast<double>(dim));
  std::vector<torch::Tensor> parts;
  for (int64_t block = range.start / block_rows; block * block_rows < range.end(); ++block) {
    const int64_t first = block * block_rows;
    const int64_t rows = std::min(block_rows, num_classes - first);
    torch::Generator generator = at::detail::createCPUGenerator(BlockSeed(seed, block));
    const torch::Tensor drawn =
        torch::rand({rows, dim}, generator, torch::kFloat32).mul_(2 * bound).sub_(bound);
    const int64_t from = std::max(range.start, first) - first;
    const int64_t to = std::min(range.end(), first + rows) - first;
    parts.push_back(drawn.slice(0, from, to));
  }
  return torch::cat(parts);
}

}  // namespace

ShardedClassifier::ShardedClassifier(int64_t feature_dim, int64_t num_classes,
                                     const LossWeights& loss, Communicator& comm, uint64_t seed,
                                     const torch::Tensor& class_counts, torch::Device device,
                                     bool bf16_autocast)
    : comm_(comm),
      num_classes_(num_classes),
      range_(ClassRangeOf(num_classes, comm.rank(), comm.size())),
      loss_(loss),
      autocast_(bf16_autocast) {
  weight_ = InitialRows(range_, num_classes, feature_dim, seed).to(device).set_requires_grad(true);
  ClassLossTensors tensors = ClassLossTensorsOf(loss, class_counts, num_classes, device);
  // The prior of this rank's classes; the weights stay whole (the rows' labels are global).
  if (tensors.log_prior.defined()) {
    log_prior_ = tensors.log_prior.slice(0, range_.start, range_.end()).clone();
  }
  class_weights_ = std::move(tensors.class_weights);
}

torch::Tensor ShardedClassifier::LocalLogits(const torch::Tensor& features,
                                             const torch::Tensor& labels) {
  if (loss_.head.kind == HeadKind::kSoftmax) return torch::mm(features, weight_.t());
  return MarginHeadLogits(features, weight_, labels.defined() ? ColumnsIn(range_, labels) : labels,
                          loss_.head);
}

ClassificationTerms ShardedClassifier::Losses(const torch::Tensor& f, const torch::Tensor& labels) {
  // Gathered in float32 (the collectives' type), whatever precision f was computed in.
  const torch::Tensor features = GatherRows(f.to(torch::kFloat32), comm_);
  const torch::Tensor y = comm_.AllGather(labels.to(weight_.device(), torch::kInt64).contiguous());
  torch::Tensor logits;
  {
    Bf16AutocastScope autocast_scope(autocast_);
    logits = LocalLogits(features, y).to(torch::kFloat32);
  }
  const torch::Tensor adjusted =
      loss_.logit_adjust_tau > 0 ? logits + loss_.logit_adjust_tau * log_prior_ : logits;
  ClassificationTerms terms;
  terms.sfmx = ShardedSoftmaxLoss(adjusted, y, range_, comm_, class_weights_);
  if (loss_.head.kind == HeadKind::kSoftmax) {
    terms.reg = ShardedMetricL2Loss(logits, num_classes_, loss_.ml2_reduction, comm_);
  }
  return terms;
}

ClassPrediction ShardedClassifier::Predict(const torch::Tensor& f) {
  torch::NoGradGuard no_grad;
  // Ranks may pass different row counts (the last chunks of their stripes).
  const int64_t rows = f.size(0);
  const auto [features, first] = GatherUnevenRows(f.to(torch::kFloat32), comm_);
  // float32 without autocast, as the replicated classifier predicts.
  const torch::Tensor logits = LocalLogits(features, torch::Tensor());
  auto [local_max, local_arg] = logits.max(1);
  std::vector<torch::Tensor> maxima = {local_max.clone()};  // reduced in place; local_max is kept
  comm_.AllReduceMax(maxima);
  const torch::Tensor& row_max = maxima[0];
  std::vector<torch::Tensor> sums = {(logits - row_max.unsqueeze(1)).exp().sum(1)};
  comm_.AllReduceSum(sums);
  // The lowest class id holding the maximum: the largest negated id among the ranks that hold it.
  const torch::Tensor none = torch::full_like(local_arg, -std::numeric_limits<int64_t>::max());
  std::vector<torch::Tensor> negated_ids = {
      torch::where(local_max == row_max, -(local_arg + range_.start), none)};
  comm_.AllReduceMax(negated_ids);
  ClassPrediction out;
  out.label = (-negated_ids[0]).slice(0, first, first + rows);
  out.probability = sums[0].reciprocal().slice(0, first, first + rows);
  return out;
}

torch::Tensor ShardedClassifier::OwnRows(const torch::Tensor& every_class_rows) const {
  TORCH_CHECK(every_class_rows.dim() >= 1 && every_class_rows.size(0) == num_classes_,
              "OwnRows: a tensor of ", num_classes_, " rows");
  // A copy: a view would keep the whole [N_c, ...] tensor alive.
  return every_class_rows.slice(0, range_.start, range_.end()).clone();
}

torch::Tensor ShardedClassifier::WeightNorms() const {
  torch::NoGradGuard no_grad;
  return EveryClassRows(weight_.norm(2, 1)).cpu();
}

torch::OrderedDict<std::string, torch::Tensor> ShardedClassifier::named_parameters() const {
  torch::OrderedDict<std::string, torch::Tensor> out;
  out.insert(kWeightName, weight_);
  return out;
}

void ShardedClassifier::SetTrainable(bool trainable) { weight_.set_requires_grad(trainable); }

std::map<std::string, torch::Tensor> ShardedClassifier::CheckpointTensors() const {
  torch::NoGradGuard no_grad;
  return {{kWeightName, EveryClassRows(weight_.detach())}};
}

absl::Status ShardedClassifier::LoadCheckpointTensors(
    const std::map<std::string, torch::Tensor>& tensors, const std::string& source) {
  for (const auto& [name, tensor] : tensors) {
    if (name != kWeightName && name.rfind("classifier.", 0) == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, " holds '", name, "', which this classifier does not have"));
    }
  }
  const auto it = tensors.find(kWeightName);
  if (it == tensors.end()) {
    return absl::InvalidArgumentError(absl::StrCat(source, " holds no '", kWeightName, "'"));
  }
  const torch::Tensor& whole = it->second;
  if (!whole.sizes().equals({num_classes_, weight_.size(1)}) ||
      whole.scalar_type() != weight_.scalar_type()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": '", kWeightName, "' is not [",
                                                   num_classes_, ", ", weight_.size(1), "] ",
                                                   c10::toString(weight_.scalar_type())));
  }
  torch::NoGradGuard no_grad;
  weight_.copy_(whole.slice(0, range_.start, range_.end()));
  return absl::OkStatus();
}

}  // namespace ftl
