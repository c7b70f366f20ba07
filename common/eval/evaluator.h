// Evaluator: the paper's evaluation protocols run on a model, outside the trainer — LFW-style
// verification pairs (Table 3) and hold-out nearest-centre rank-1 with the classifier's UR
// coverage (Tables 1 and 2), each on the rich feature g and the identity feature f.
//
// Work is split across ranks by stripes and summed with the communicator, so every rank must call
// Evaluate and every rank ends with the same figures. The worker's evaluate phase, `ftl eval` and
// `ftl experiment` (through the worker) share it.
#ifndef FTL_COMMON_EVAL_EVALUATOR_H_
#define FTL_COMMON_EVAL_EVALUATOR_H_

#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "common/classifier/classifier.h"
#include "common/comm/communicator.h"
#include "common/config/job_config.h"
#include "common/data/dataset.h"
#include "common/data/verification_bin.h"
#include "common/eval/metrics.h"
#include "common/model/ftl_model.h"

namespace ftl {

struct VerificationMetrics {
  VerificationResult on_f, on_g;
  int64_t pairs_used = 0;    // pairs whose two images were read
  int64_t pairs_listed = 0;  // pairs in the file
};

struct HoldoutMetrics {
  int64_t probes = 0;  // hold-out images of training identities
  std::optional<double> rank1_regular_g, rank1_ur_g, rank1_regular_f, rank1_ur_f;
  // The classifier on UR probes (absent without UR probes).
  std::optional<double> coverage_p99_ur, top1_ur_classifier;
};

struct EvaluationMetrics {
  std::optional<VerificationMetrics> verification;  // absent: no pairs, or unreadable
  std::optional<HoldoutMetrics> holdout;            // absent: no hold-out, or unreadable
  // InsightFace .bin sets by file stem (an unreadable set is left out).
  std::map<std::string, VerificationMetrics> bin_sets;

  // The figures by their names in common/eval/metric_names.h (what phase reports carry).
  std::map<std::string, double> Named() const;
};

class Evaluator {
 public:
  // Protocols and their sources come from config.evaluation (pairs_path / pairs_images,
  // holdout_path / holdout_manifest); images are read as config.data and config.model say.
  // `training_set` (the gallery and the label space) and `comm` must outlive the evaluator.
  Evaluator(const JobConfig& config, const Dataset& training_set, Communicator& comm,
            torch::Device device = torch::kCPU);
  ~Evaluator();

  // Runs every configured protocol on `model` and its `classifier` (both on this evaluator's
  // device) with the UR/regular split `is_regular` ([N_c] bool). A protocol whose input cannot be
  // read (on any rank) is left out on every rank, with the reason logged. The hold-out set is read
  // at the first call and kept.
  EvaluationMetrics Evaluate(FtlModel& model, Classifier& classifier,
                             const torch::Tensor& is_regular);

 private:
  std::optional<VerificationMetrics> Verification(FtlModel& model);
  std::optional<HoldoutMetrics> Holdout(FtlModel& model, Classifier& classifier,
                                        const torch::Tensor& is_regular);
  // A .bin set with the mirror image, as InsightFace's validation: each rank embeds a stripe of
  // the images, the embeddings are summed across ranks.
  std::optional<VerificationMetrics> BinSet(FtlModel& model, const std::string& path);
  // Whether `status` is OK on every rank (a collective): a protocol whose input one rank cannot
  // read is left out on all of them, so their later collectives still match. Logs a failure.
  bool EveryRankOk(const absl::Status& status, const std::string& what);
  // Reads the hold-out probes of training identities, relabelled to the training labels.
  absl::Status LoadHoldout();
  // g = Enc(x) and f = R(g), no grad, on the host; x: [B, C, S, S] float in [0, 1], any device.
  std::pair<torch::Tensor, torch::Tensor> Features(FtlModel& model, const torch::Tensor& x) const;

  JobConfig config_;
  const Dataset& training_set_;
  Communicator& comm_;
  torch::Device device_;
  std::unique_ptr<Dataset> holdout_;
  std::map<std::string, VerificationBin> bins_;  // read at the first evaluation, kept
};

}  // namespace ftl

#endif  // FTL_COMMON_EVAL_EVALUATOR_H_
