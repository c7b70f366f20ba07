// Trainer: runs the phases of Algorithm 1 data-parallel over a Communicator.
//
// Every rank knows the whole Dataset (in memory, or its labels when streamed) and draws the same
// global batch for each step (a pure function of seed, stream and step); each keeps its slice of
// B rows and reads only those images, and gradients are averaged across ranks, so R ranks x batch
// B trains exactly as 1 rank x batch R*B would. Batches are read ahead by a BatchPrefetcher.
// UpdateStats is sharded: rank r encodes samples r, r+R, r+2R, ... and the statistics are summed
// across ranks (see common/ftl/class_stats.h).
#ifndef FTL_COMMON_TRAIN_TRAINER_H_
#define FTL_COMMON_TRAIN_TRAINER_H_

#include <torch/torch.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "common/classifier/classifier.h"
#include "common/comm/communicator.h"
#include "common/comm/gradient_buckets.h"
#include "common/config/job_config.h"
#include "common/data/batch_prefetcher.h"
#include "common/data/dataset.h"
#include "common/data/sampler.h"
#include "common/ftl/losses.h"
#include "common/model/ftl_model.h"
#include "common/schedule/schedule.h"
#include "common/train/ftl_statistics.h"
#include "common/train/phase_report.h"

namespace ftl {

struct TrainerCheckpoint;

// What a loaded checkpoint is for. kSameRun (the worker's --resume and the coordinator's retries)
// continues the run that wrote it: a checkpoint whose recipe (common/config/recipe.h) differs from
// this job's is refused. kAnyRun (`ftl eval`, the experiment runner) reads the weights and state
// under another config on purpose. kChangedRun resumes despite a differing recipe, logging the
// differences (ftl_worker --resume_despite_changes).
enum class CheckpointUse { kAnyRun, kSameRun, kChangedRun };

// Reported during training phases, once per iteration (the caller throttles printing).
struct StepProgress {
  PhaseKind phase;
  int round;
  int64_t iteration;  // 1-based within the phase
  int64_t iterations;
  std::map<std::string, double> losses;  // this rank's losses of this iteration
  int64_t images;                        // images (all ranks) trained in this iteration
};
using ProgressCallback = std::function<void(const StepProgress&)>;

class Trainer {
 public:
  // `dataset` and `comm` must outlive the trainer. Parameters are broadcast from rank 0. The model,
  // batches and statistics live on `device` (comm must handle its tensors: NCCL for CUDA); the
  // dataset stays in host memory and batches are copied over as they are drawn.
  Trainer(const JobConfig& config, const Dataset& dataset, Communicator& comm,
          torch::Device device = torch::kCPU);
  ~Trainer();

  // Runs one phase of the schedule and reports what it did. Checkpoint phases need the
  // position to store and the file to write; use SaveCheckpoint directly.
  PhaseReport Pretrain(int64_t iterations, const ProgressCallback& progress = nullptr);
  PhaseReport UpdateStats();
  PhaseReport StageOne(int64_t iterations, int round, const ProgressCallback& progress = nullptr);
  PhaseReport StageTwo(int64_t iterations, int round, const ProgressCallback& progress = nullptr);
  // The training set by the classifier (top-1 per class group; at most
  // evaluation.train_top1_max_images images, every k-th; report.images says how many), Fig. 1b's
  // norm ratio and output_dir/weight_norms.csv (rank 0). Hold-out and pairs protocols:
  // common/eval/evaluator.h.
  PhaseReport Evaluate();

  // Saves modules, optimizers, statistics, sampler steps and `schedule_position` (rank 0 writes;
  // every rank must call). Atomic; see checkpoint_file.h.
  absl::Status SaveCheckpoint(const std::string& path, int64_t schedule_position);
  // Loads a checkpoint made for this model and dataset; returns its schedule position. Every
  // rank must call; all succeed or all fail (a rank that loaded its part is told another could
  // not, DataLoss), so that LoadNewestCheckpoint moves every rank to the same older file. With
  // kSameRun, InvalidArgument naming up to 5 differing settings when the checkpoint was trained
  // with another recipe (a file without a recipe loads, with a log line).
  absl::StatusOr<int64_t> LoadCheckpoint(const std::string& path,
                                         CheckpointUse use = CheckpointUse::kAnyRun);
  // Starts from a checkpoint made for this model and dataset (training.init_checkpoint): its model
  // weights and sampler positions (a continued run draws the batches after the ones its starting
  // model saw); optimizers and statistics stay fresh. Every rank reads the file and all must call.
  // FailedPrecondition for a checkpoint of another job (or one another rank could not read),
  // DataLoss for a damaged one, NotFound for a missing one.
  absl::Status InitializeFrom(const std::string& path);
  // Fine-tuning (model.init_from): Enc, Dec and R from a trained model of the same layers — a
  // checkpoint file or folder, or an `ftl export` module (Enc, and R if it holds f; Dec stays
  // fresh) — the classifier, optimizers and samplers fresh. Every rank reads the file and all must
  // call. FailedPrecondition for a model of other layers (naming both), else as InitializeFrom.
  absl::Status FineTuneFrom(const std::string& path);

  FtlModel& model() { return model_; }
  Classifier& classifier() { return *classifier_; }
  const JobConfig& config() const { return config_; }
  const Dataset& dataset() const { return dataset_; }
  const torch::Device& device() const { return device_; }
  const FtlStatistics& statistics() const { return stats_; }
  const torch::Tensor& regular_classes() const { return is_regular_; }
  // Gradient all-reduce totals over all phases so far.
  AllReduceStats allreduce_stats() const;
  // Mean classifier weight norm of UR classes over that of regular classes (Fig. 1b's bias);
  // NaN when either group is empty.
  double UrToRegularWeightNormRatio() const;

 private:
  struct PhaseOptimizer;
  struct Optimizers;

  // One optimizer step on `loss` for the parameters of `averager` (gradients averaged over ranks,
  // then clipped when the phase's optimizer says so), at the learning rate last scheduled.
  void Step(PhaseOptimizer& phase, GradientAverager& averager, const torch::Tensor& loss);
  torch::Tensor LocalSlice(const torch::Tensor& global_batch) const;
  // This rank's rows `x` of training batch `step` of `stream`, cut where data.random_crop_pixels'
  // CropShifts say, then mirrored where data.random_flip's FlipMask says (unchanged when both are
  // off).
  torch::Tensor Augment(const torch::Tensor& x, SampleStream stream, int64_t step) const;
  PhaseReport FinishReport(const std::string& phase, int round, int64_t iterations, double seconds,
                           int64_t images, std::map<std::string, double> loss_sums);
  // Freezes what `phase` does not train (requires_grad off), unfreezes the rest.
  void SetTrainable(PhaseKind phase);
  // Stage 1's third batch of `kind` (features and labels; undefined for none, or for Eq. 7 and
  // its random-basis control without a regular batch) at the current stage-1 step.
  std::pair<torch::Tensor, torch::Tensor> ThirdBatchOf(
      ThirdBatch kind, const torch::Tensor& g_regular, const torch::Tensor& y_regular,
      const torch::Tensor& y_ur, BatchPrefetcher* second_ur,
      const std::function<torch::Tensor(const torch::Tensor&)>& encode) const;
  // Pre-training and stage 2: Eq. 4 on ordinary batches from all of D.
  PhaseReport TrainOnAllData(PhaseKind phase, int64_t iterations, int round,
                             const ProgressCallback& progress);

  // Fig. 1b's data: output_dir/<file_name>, one row per class (name, images, regular, norm),
  // written by rank 0; every rank calls it.
  void WriteWeightNorms(const std::string& file_name);
  // Eq. 4's weighted terms for identity features f of `labels` (reconstruction left out when
  // undefined): the classifier's terms and the reconstruction's, with the configured reductions.
  LossTerms ClassifierLosses(const torch::Tensor& f, const torch::Tensor& labels,
                             const torch::Tensor& reconstruction, const torch::Tensor& x) const;
  // The network's and the classifier's parameters by name (optimizer state in checkpoints).
  torch::OrderedDict<std::string, torch::Tensor> ParameterNames() const;
  // Whether optimizer-state entry "<parameter>/<field>" is per row of the classifier's weights
  // (every field but Adam's step count).
  bool IsClassifierRowState(const std::string& entry) const;
  // The phase optimizers' states as a checkpoint holds them ("pretrain", "stage1", "stage2"),
  // with every class's rows of the classifier's state. Every rank calls it (a sharded
  // classifier's rows are gathered); the maps are empty on ranks other than 0 when there is
  // nothing to gather.
  std::map<std::string, std::map<std::string, torch::Tensor>> OptimizerStates() const;
  // The network's parameters, then the classifier's where they are replicated: what rank 0
  // broadcasts.
  std::vector<torch::Tensor> AllParameters() const;
  // FineTuneFrom's read on this rank; returns what was taken ("Enc, Dec, R" or "Enc").
  absl::StatusOr<std::string> ReadTrainedLayers(const std::string& path);
  // Whether `status` is OK on every rank (a collective).
  bool AllRanksSucceeded(const absl::Status& status);
  // LoadCheckpoint's load on this rank.
  absl::StatusOr<int64_t> LoadCheckpointOnThisRank(const std::string& path, CheckpointUse use);
  // Every rank's read succeeded (a collective), then rank 0's weights to all (bit-identical).
  absl::Status AgreeAndBroadcast(const absl::Status& read, const std::string& field,
                                 const std::string& path);
  // InitializeFrom's read on this rank: weights and sampler positions.
  absl::Status ReadModelWeights(const std::string& path);
  // The checkpoint at `path`, refused (FailedPrecondition, naming both) when it was made for
  // another network or dataset shape than this job's.
  absl::StatusOr<TrainerCheckpoint> ReadOwnCheckpoint(const std::string& path) const;
  // What a checkpoint and an init checkpoint both load: the model and the sampler steps.
  absl::Status LoadModelAndSteps(const std::string& path, const TrainerCheckpoint& checkpoint);
  // Batches k = 0 .. count-1 with rows rows_of(k), read ahead by data.loader_threads threads.
  std::unique_ptr<BatchPrefetcher> Batches(std::function<torch::Tensor(int64_t)> rows_of,
                                           int64_t count) const;
  // The UpdateStats/evaluation pass over this rank's stripe (rows rank, rank + R, ...) in chunks.
  std::unique_ptr<BatchPrefetcher> StripeBatches(const torch::Tensor& stripe) const;
  // Rank 0's batch-norm running statistics to every rank (a collective; nothing to do for the
  // paper presets): UpdateStats, evaluation and checkpoints then see one model on all ranks.
  void SyncBuffers();
  // uint8 images (host) as float in [0, 1] on device_.
  torch::Tensor DeviceImages(const torch::Tensor& images) const;
  // DeviceImages and the labels (on device_) of a batch.
  std::pair<torch::Tensor, torch::Tensor> DeviceBatch(const BatchPrefetcher::Batch& batch) const;
  // Whether forward passes run under bf16 autocast (CUDA and runtime.bf16_autocast).
  bool autocast() const;

  JobConfig config_;
  const Dataset& dataset_;
  Communicator& comm_;
  torch::Device device_;
  FtlModel model_{nullptr};
  std::unique_ptr<Classifier> classifier_;
  torch::Tensor is_regular_;     // [N_c] bool
  int64_t regular_samples_ = 1;  // samples of regular classes: the terms of Eq. 6's sum V
  std::vector<int64_t> ur_classes_;
  std::unique_ptr<Optimizers> optimizers_;
  std::unique_ptr<GradientAverager> pretrain_averager_, stage1_averager_, stage2_averager_;
  EpochSampler pretrain_samples_, stage2_samples_;
  ClassBalancedSampler balanced_pretrain_samples_;  // training.pretrain_sampling class_balanced
  EpochSampler hard_samples_;
  ClassBalancedSampler ur_samples_;
  ClassBalancedSampler second_ur_samples_;  // training.stage1_third_batch "ur"
  int64_t pretrain_step_ = 0, stage1_step_ = 0, stage2_step_ = 0;
  FtlStatistics stats_;
};

}  // namespace ftl

#endif  // FTL_COMMON_TRAIN_TRAINER_H_
