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
  const bool needs_counts = loss.logit_adjust_tau > 0 || loss.class_balanced_beta > 0;
  TORCH_CHECK(!needs_counts || (class_counts.defined() && class_counts.numel() == num_classes),
              "logit adjustment and the class-balanced loss need each class's image count");
  if (loss.logit_adjust_tau > 0) {
    // As ReplicatedClassifier: log shares, a class without images counted as one.
    const torch::Tensor counts = class_counts.to(torch::kFloat64).clamp_min(1.0);
    log_prior_ = torch::log(counts / counts.sum())
                     .slice(0, range_.start, range_.end())
                     .to(torch::kFloat32)
                     .to(device);
  }
  if (loss.class_balanced_beta > 0) {
    class_weights_ = ClassBalancedWeights(class_counts, loss.class_balanced_beta).to(device);
  }
}

torch::Tensor ShardedClassifier::LocalLogits(const torch::Tensor& features,
                                             const torch::Tensor& labels) {
  if (loss_.head.kind == HeadKind::kSoftmax) return torch::mm(features, weight_.t());
  namespace F = torch::nn::functional;
  c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::DispatchKey::AutocastCUDA);
  const auto unit = F::NormalizeFuncOptions().dim(1).eps(1e-12);
  const torch::Tensor cosine = torch::mm(F::normalize(features.to(torch::kFloat32), unit),
                                         F::normalize(weight_.to(torch::kFloat32), unit).t());
  if (!labels.defined()) return MarginLogits(cosine, labels, loss_.head);
  const torch::Tensor here = (labels >= range_.start) & (labels < range_.end());
  const torch::Tensor columns =
      torch::where(here, labels - range_.start, torch::full_like(labels, -1));
  return MarginLogits(cosine, columns, loss_.head);
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
  // Ranks may pass different row counts (the last chunks of their stripes): padded to the most.
  const int64_t rows = f.size(0);
  const int64_t widest =
      comm_.AllGather(torch::tensor({rows}, torch::kInt64)).max().item<int64_t>();
  torch::Tensor padded = torch::zeros({widest, weight_.size(1)}, weight_.options());
  padded.slice(0, 0, rows).copy_(f);
  const torch::Tensor features = comm_.AllGather(padded.detach());
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
  const int64_t first = comm_.rank() * widest;
  ClassPrediction out;
  out.label = (-negated_ids[0]).slice(0, first, first + rows);
  out.probability = sums[0].reciprocal().slice(0, first, first + rows);
  return out;
}

torch::Tensor ShardedClassifier::GatherClassRows(const torch::Tensor& rows) const {
  const int size = comm_.size();
  const int64_t widest = ClassRangeOf(num_classes_, 0, size).count;  // the first ranks' ranges
  std::vector<int64_t> padded_shape = rows.sizes().vec();
  padded_shape[0] = widest;
  torch::Tensor padded = torch::zeros(padded_shape, rows.options());
  padded.slice(0, 0, rows.size(0)).copy_(rows);
  const torch::Tensor gathered = comm_.AllGather(padded);
  std::vector<torch::Tensor> parts;
  for (int r = 0; r < size; ++r) {
    parts.push_back(
        gathered.slice(0, r * widest, r * widest + ClassRangeOf(num_classes_, r, size).count));
  }
  return torch::cat(parts);
}

torch::Tensor ShardedClassifier::OwnRows(const torch::Tensor& every_class_rows) const {
  TORCH_CHECK(every_class_rows.dim() >= 1 && every_class_rows.size(0) == num_classes_,
              "OwnRows: a tensor of ", num_classes_, " rows");
  // A copy: a view would keep the whole [N_c, ...] tensor alive.
  return every_class_rows.slice(0, range_.start, range_.end()).clone();
}

torch::Tensor ShardedClassifier::WeightNorms() const {
  torch::NoGradGuard no_grad;
  return GatherClassRows(weight_.norm(2, 1)).cpu();
}

torch::OrderedDict<std::string, torch::Tensor> ShardedClassifier::named_parameters() const {
  torch::OrderedDict<std::string, torch::Tensor> out;
  out.insert(kWeightName, weight_);
  return out;
}

void ShardedClassifier::SetTrainable(bool trainable) { weight_.set_requires_grad(trainable); }

std::map<std::string, torch::Tensor> ShardedClassifier::CheckpointTensors() const {
  torch::NoGradGuard no_grad;
  return {{kWeightName, GatherClassRows(weight_.detach())}};
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
