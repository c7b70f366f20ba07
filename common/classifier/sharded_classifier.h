// The classifier split by class across the ranks (Partial FC, An et al. CVPR 2022, at sample rate
// 1): rank r holds the rows of classes ClassRangeOf(N_c, r, R) only. Its loss sees the features
// and labels of the whole global batch (gathered), computes the logits of its own classes and
// assembles the softmax over all of them across ranks (distributed_ops.h), so that the loss and
// every gradient equal a ReplicatedClassifier's on the global batch, with 1/R of the weights per
// rank. Its rows' gradients are exact on their own: they are not averaged across ranks.
//
// Losses, Predict, WeightNorms, EveryClassRows and CheckpointTensors are collectives: all ranks
// call them in the same order (Losses with the same number of rows; Predict with any). The others
// are local.
//
// The trainer builds it for model.classifier_sharding "sharded". Negative sampling
// (loss.sample_rate) is not there yet (issue 31 step 3).
#ifndef FTL_COMMON_CLASSIFIER_SHARDED_CLASSIFIER_H_
#define FTL_COMMON_CLASSIFIER_SHARDED_CLASSIFIER_H_

#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <string>

#include "common/classifier/class_partition.h"
#include "common/classifier/classifier.h"
#include "common/classifier/distributed_ops.h"
#include "common/comm/communicator.h"
#include "common/config/job_config.h"

namespace ftl {

class ShardedClassifier final : public Classifier {
 public:
  // This rank's rows, each drawn uniform in [-1/sqrt(D), 1/sqrt(D)] (nn::Linear's bound) from
  // generators seeded by (seed, block of kInitBlockRows rows): the same weights for any rank
  // count, without any rank drawing all N_c rows. `comm` must outlive the classifier; N_c must be
  // at least its size. `class_counts` as ReplicatedClassifier's.
  ShardedClassifier(int64_t feature_dim, int64_t num_classes, const LossWeights& loss,
                    Communicator& comm, uint64_t seed,
                    const torch::Tensor& class_counts = torch::Tensor(),
                    torch::Device device = torch::kCPU, bool bf16_autocast = false);

  static constexpr int64_t kInitBlockRows = 4096;

  const ClassRange& range() const { return range_; }
  // This rank's rows of W: [range().count, D] (a parameter).
  const torch::Tensor& local_weight() const { return weight_; }

  int64_t num_classes() const override { return num_classes_; }
  ClassificationTerms Losses(const torch::Tensor& f, const torch::Tensor& labels) override;
  ClassPrediction Predict(const torch::Tensor& f) override;
  torch::Tensor WeightNorms() const override;
  // This rank's rows, named "classifier.weight" (their optimizer state is this rank's too).
  torch::OrderedDict<std::string, torch::Tensor> named_parameters() const override;
  bool averages_gradients() const override { return false; }
  // Ranks' rows in rank order, which is class order.
  torch::Tensor EveryClassRows(const torch::Tensor& own_rows) const override {
    return GatherUnevenRows(own_rows, comm_).first;
  }
  // Rows range() of `every_class_rows` [N_c, ...].
  torch::Tensor OwnRows(const torch::Tensor& every_class_rows) const override;
  void SetTrainable(bool trainable) override;
  // The whole W, gathered from every rank ("classifier.weight" [N_c, D]): the same file as a
  // replicated classifier's, so any rank count reads it.
  std::map<std::string, torch::Tensor> CheckpointTensors() const override;
  // Takes this rank's rows of the whole W (any rank count wrote it).
  absl::Status LoadCheckpointTensors(const std::map<std::string, torch::Tensor>& tensors,
                                     const std::string& source) override;

 private:
  // Logits of this rank's classes for gathered features F [RB, D]; with `labels` (global ids)
  // a margin head's margin at the targets this rank owns.
  torch::Tensor LocalLogits(const torch::Tensor& features, const torch::Tensor& labels);

  Communicator& comm_;
  int64_t num_classes_;
  ClassRange range_;
  torch::Tensor weight_;  // [n_r, D]
  LossWeights loss_;
  bool autocast_;
  torch::Tensor log_prior_;      // [n_r] this rank's classes' log shares (logit adjustment)
  torch::Tensor class_weights_;  // [N_c] class-balanced loss weights (rows' labels are global)
};

}  // namespace ftl

#endif  // FTL_COMMON_CLASSIFIER_SHARDED_CLASSIFIER_H_
