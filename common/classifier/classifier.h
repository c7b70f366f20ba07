// The classifier FC of Eq. 2 as a component of its own: its weights W [N_c, D], the head that
// turns an identity feature f into logits (softmax, or a margin head: loss.head), the
// classification terms of Eq. 4 on those logits (the softmax loss with logit adjustment and the
// class-balanced weights; m-L2 on the softmax head's logits), predictions, the weight norms of
// Fig. 1b and the tensors a checkpoint holds for it.
//
// The trainer and the evaluator see the classifier only through this interface, so that one whose
// class rows are split across ranks (Partial FC: issue 31, docs/ARCHITECTURE.md) can take the
// place of the replicated one without touching them.
#ifndef FTL_COMMON_CLASSIFIER_CLASSIFIER_H_
#define FTL_COMMON_CLASSIFIER_CLASSIFIER_H_

#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <string>

#include "absl/status/status.h"

namespace ftl {

// Eq. 4's classification terms for one batch, unweighted (CombineLosses weighs them).
struct ClassificationTerms {
  torch::Tensor sfmx;  // Eq. 2: the softmax loss, a float32 scalar
  torch::Tensor reg;   // Eq. 3: m-L2 on the logits; undefined under a margin head
};

// Inference on features, in float32 without autocast: per row the class of the largest logit
// (ties to the lower class) and its softmax probability, on the features' device.
struct ClassPrediction {
  torch::Tensor label;        // [B] int64
  torch::Tensor probability;  // [B] float32
};

class Classifier {
 public:
  virtual ~Classifier() = default;

  virtual int64_t num_classes() const = 0;

  // Training terms for this rank's features f [B, D] of classes `labels` [B] int64: the margin
  // (when the head has one) at each row's target, gradients to f and to the weights.
  virtual ClassificationTerms Losses(const torch::Tensor& f, const torch::Tensor& labels) = 0;

  // Without margins or gradients. Ranks may pass different numbers of rows (none included), but
  // every rank calls it as often as the others: a sharded classifier's is a collective.
  virtual ClassPrediction Predict(const torch::Tensor& f) = 0;

  // ||W_c|| per class: [N_c] float32 on the CPU.
  virtual torch::Tensor WeightNorms() const = 0;

  // The tensors the phase optimizers step, by the names their state and the checkpoint carry
  // ("classifier.weight").
  virtual torch::OrderedDict<std::string, torch::Tensor> named_parameters() const = 0;

  // Whether the data-parallel gradient averager averages these gradients with the backbone's
  // (a replicated classifier's are; rows a rank owns alone are not).
  virtual bool averages_gradients() const = 0;

  // requires_grad of every weight: on in the phases that train the classifier (pre-training,
  // stage 1), off in stage 2.
  virtual void SetTrainable(bool trainable) = 0;

  // A per-class tensor of this rank's rows ([its classes, ...], e.g. an optimizer's state of the
  // weights) as every class's [N_c, ...] in class order, and back. A collective for a classifier
  // whose ranks hold different rows; the tensor itself for a replicated one.
  virtual torch::Tensor EveryClassRows(const torch::Tensor& own_rows) const = 0;
  virtual torch::Tensor OwnRows(const torch::Tensor& every_class_rows) const = 0;

  // The checkpoint's entries for the classifier, named as named_parameters() names them
  // (detached; a replicated classifier's share memory with its weights, a sharded one's are
  // gathered copies).
  virtual std::map<std::string, torch::Tensor> CheckpointTensors() const = 0;
  // All or nothing: InvalidArgument naming the entry and `source` for a missing entry, one of
  // another shape or dtype, or one the classifier does not have; the weights are then unchanged.
  virtual absl::Status LoadCheckpointTensors(const std::map<std::string, torch::Tensor>& tensors,
                                             const std::string& source) = 0;
};

}  // namespace ftl

#endif  // FTL_COMMON_CLASSIFIER_CLASSIFIER_H_
