#include "common/train/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/checkpoint/checkpoint_file.h"
#include "common/classifier/replicated_classifier.h"
#include "common/classifier/sharded_classifier.h"
#include "common/config/recipe.h"
#include "common/data/augment.h"
#include "common/eval/metric_names.h"
#include "common/export/embedding_file.h"
#include "common/ftl/class_stats.h"
#include "common/ftl/losses.h"
#include "common/ftl/transfer.h"
#include "common/model/autocast.h"
#include "common/model/module_tensors.h"
#include "common/optim/optimizer.h"
#include "common/optim/optimizer_state.h"
#include "common/train/checkpoint_schema.h"
#include "common/train/trained_model.h"
#include "common/util/file.h"
#include "common/util/log.h"
#include "common/util/status_macros.h"
#include "common/util/work_counter.h"

namespace ftl {
namespace {

constexpr int64_t kEncodeBatch = 256;

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

std::vector<torch::Tensor> Concat(std::initializer_list<std::vector<torch::Tensor>> lists) {
  std::vector<torch::Tensor> out;
  for (const auto& list : lists) out.insert(out.end(), list.begin(), list.end());
  return out;
}

// Whether `p` is one of `frozen` (the same tensor, not an equal one).
bool IsOneOf(const torch::Tensor& p, const std::vector<torch::Tensor>& frozen) {
  for (const torch::Tensor& f : frozen) {
    if (p.unsafeGetTensorImpl() == f.unsafeGetTensorImpl()) return true;
  }
  return false;
}

// `module`'s parameters without the ones that never train.
std::vector<torch::Tensor> Trainable(const torch::nn::Module& module,
                                     const std::vector<torch::Tensor>& frozen) {
  std::vector<torch::Tensor> out;
  for (const torch::Tensor& p : module.parameters()) {
    if (!IsOneOf(p, frozen)) out.push_back(p);
  }
  return out;
}

// Rank 0's "k/n images" line every runtime.progress_seconds during the passes over the data
// (UpdateStats, the training-set evaluation), which take minutes on an IResNet.
class PassProgress {
 public:
  PassProgress(const char* phase, int64_t total, int rank, double period_seconds)
      : phase_(phase),
        total_(total),
        enabled_(rank == 0 && period_seconds > 0),
        period_(period_seconds),
        start_(std::chrono::steady_clock::now()),
        last_(start_) {}
  // `done` of this rank's share; the line extrapolates to all ranks' images.
  void Update(int64_t done, int64_t share) {
    CountWork();
    if (!enabled_) return;
    const auto now = std::chrono::steady_clock::now();
    if (std::chrono::duration<double>(now - last_).count() < period_) return;
    last_ = now;
    const double fraction = share > 0 ? static_cast<double>(done) / share : 1.0;
    const double elapsed = std::chrono::duration<double>(now - start_).count();
    Log(absl::StrFormat("[%s] %d/%d images (%.0f%%) | ETA %.0f s", phase_,
                        static_cast<int64_t>(fraction * total_), total_, 100 * fraction,
                        fraction > 0 ? elapsed * (1 - fraction) / fraction : 0.0));
  }

 private:
  const char* phase_;
  int64_t total_;
  bool enabled_;
  double period_;
  std::chrono::steady_clock::time_point start_, last_;
};

}  // namespace

// A phase's optimizer with its schedule: the learning rate of step t is
// ScheduledLearningRate(config, lr, t, total_steps), t the phase's step counter (which checkpoints
// carry), so a resumed phase continues the same schedule.
struct Trainer::PhaseOptimizer {
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  OptimizerConfig config;
  double lr = 0.0;
  int64_t total_steps = 0;

  PhaseOptimizer(const std::vector<torch::Tensor>& params, const OptimizerConfig& c, double base_lr,
                 int64_t total)
      : optimizer(MakeOptimizer(params, c, base_lr)), config(c), lr(base_lr), total_steps(total) {}
  void ScheduleStep(int64_t step) {
    SetLearningRate(*optimizer, ScheduledLearningRate(config, lr, step, total_steps));
  }
};

struct Trainer::Optimizers {
  PhaseOptimizer pretrain;
  PhaseOptimizer stage1;
  PhaseOptimizer stage2;
};

Trainer::Trainer(const JobConfig& config, const Dataset& dataset, Communicator& comm,
                 torch::Device device)
    : config_(config), dataset_(dataset), comm_(comm), device_(device) {
  const torch::Tensor class_counts =
      config.loss.logit_adjust_tau > 0 || config.loss.class_balanced_beta > 0
          ? dataset.ClassCounts()
          : torch::Tensor();
  torch::manual_seed(config.training.seed);
  model_ = FtlModel(config.model);
  model_->to(device_);
  if (config.classifier_sharding == ClassifierSharding::kSharded) {
    // Its rows from its own seeded blocks: the same weights for any rank count.
    classifier_ = std::make_unique<ShardedClassifier>(
        config.model.feature_dim, dataset.num_classes(), config.loss, comm_, config.training.seed,
        class_counts, device_, autocast());
  } else {
    // Right after the network, from the same seeded stream: the weights FtlModel's own FC had.
    classifier_ =
        std::make_unique<ReplicatedClassifier>(config.model.feature_dim, dataset.num_classes(),
                                               config.loss, class_counts, device_, autocast());
  }
  // Identical starting weights everywhere, whatever each rank's RNG did.
  std::vector<torch::Tensor> state = AllParameters();
  {
    torch::NoGradGuard no_grad;
    comm_.Broadcast(state, 0);
  }
  is_regular_ = RegularClassMask(dataset, config.data.ur_max_images);
  regular_samples_ =
      std::max<int64_t>(1, is_regular_.index_select(0, dataset.labels).sum().item<int64_t>());
  for (int64_t c = 0; c < dataset.num_classes(); ++c) {
    if (!is_regular_[c].item<bool>()) ur_classes_.push_back(c);
  }
  const std::vector<torch::Tensor> frozen = model_->enc->frozen_parameters();
  const auto enc = Trainable(*model_->enc, frozen);
  const auto dec = model_->dec ? model_->dec->parameters() : std::vector<torch::Tensor>{};
  const auto filter = model_->filter->parameters();
  const auto fc = classifier_->named_parameters().values();
  const auto all = Concat({enc, dec, filter, fc});
  const auto stage1 = Concat({filter, fc});
  // A classifier whose rows are this rank's own steps them without the average.
  const auto averaged_fc = classifier_->averages_gradients() ? fc : std::vector<torch::Tensor>{};
  const auto stage2 = Concat({enc, dec, filter});
  const TrainingConfig& t = config.training;
  const int64_t stage_steps = int64_t{t.rounds} * t.stage_iterations;
  optimizers_.reset(new Optimizers{
      PhaseOptimizer(all, t.pretrain_optimizer, t.pretrain_lr, t.pretrain_iterations),
      PhaseOptimizer(stage1, t.stage1_optimizer, t.stage1_lr, stage_steps),
      PhaseOptimizer(stage2, t.stage2_optimizer, t.stage2_lr, stage_steps)});
  const auto bucket_bytes = static_cast<int64_t>(config.runtime.bucket_mb * 1024 * 1024);
  const bool overlap = config.runtime.overlap_allreduce.value_or(device_.is_cuda());
  pretrain_averager_ = std::make_unique<GradientAverager>(Concat({enc, dec, filter, averaged_fc}),
                                                          bucket_bytes, overlap);
  stage1_averager_ =
      std::make_unique<GradientAverager>(Concat({filter, averaged_fc}), bucket_bytes, overlap);
  stage2_averager_ = std::make_unique<GradientAverager>(stage2, bucket_bytes, overlap);
  const torch::Tensor every_sample = torch::arange(dataset.size(), torch::kInt64);
  pretrain_samples_ = EpochSampler(every_sample, t.seed, SampleStream::kPretrain);
  stage2_samples_ = EpochSampler(every_sample, t.seed, SampleStream::kStageTwo);
  ur_samples_ =
      ClassBalancedSampler(dataset.labels, ur_classes_, t.seed, SampleStream::kStageOneUr);
  second_ur_samples_ =
      ClassBalancedSampler(dataset.labels, ur_classes_, t.seed, SampleStream::kStageOneSecondUr);
  if (t.pretrain_sampling == Sampling::kClassBalanced) {
    std::vector<int64_t> all_classes(static_cast<size_t>(dataset.num_classes()));
    for (int64_t c = 0; c < dataset.num_classes(); ++c) all_classes[c] = c;
    balanced_pretrain_samples_ =
        ClassBalancedSampler(dataset.labels, all_classes, t.seed, SampleStream::kPretrain);
  }
}

LossTerms Trainer::ClassifierLosses(const torch::Tensor& f, const torch::Tensor& labels,
                                    const torch::Tensor& reconstruction,
                                    const torch::Tensor& x) const {
  const LossWeights& w = config_.loss;
  const ClassificationTerms terms = classifier_->Losses(f, labels);
  return CombineLosses(w, terms.sfmx,
                       reconstruction.defined()
                           ? ReconstructionLoss(reconstruction, x, w.recon_reduction)
                           : torch::Tensor(),
                       terms.reg);
}

torch::OrderedDict<std::string, torch::Tensor> Trainer::ParameterNames() const {
  torch::OrderedDict<std::string, torch::Tensor> names = model_->named_parameters();
  for (const auto& p : classifier_->named_parameters()) names.insert(p.key(), p.value());
  return names;
}

bool Trainer::IsClassifierRowState(const std::string& entry) const {
  const size_t slash = entry.rfind('/');
  if (slash == std::string::npos || entry.substr(slash + 1) == "step") return false;
  return classifier_->named_parameters().contains(entry.substr(0, slash));
}

std::map<std::string, TensorMap> Trainer::OptimizerStates() const {
  std::map<std::string, TensorMap> out;
  const bool rows_apart = !classifier_->averages_gradients();
  if (comm_.rank() != 0 && !rows_apart) return out;  // rank 0 writes them
  const NamedParameters names = ParameterNames();
  out["pretrain"] = OptimizerStateTensors(*optimizers_->pretrain.optimizer, names);
  out["stage1"] = OptimizerStateTensors(*optimizers_->stage1.optimizer, names);
  out["stage2"] = OptimizerStateTensors(*optimizers_->stage2.optimizer, names);
  if (!rows_apart) return out;
  // Every rank in the same order (std::map's): each entry's gather is a collective.
  for (auto& [phase, state] : out) {
    for (auto& [name, tensor] : state) {
      if (IsClassifierRowState(name)) tensor = classifier_->EveryClassRows(tensor);
    }
  }
  return out;
}

std::vector<torch::Tensor> Trainer::AllParameters() const {
  std::vector<torch::Tensor> out = model_->parameters();
  // A classifier whose rows are each rank's own is not rank 0's to hand out.
  if (classifier_->averages_gradients()) {
    for (const torch::Tensor& p : classifier_->named_parameters().values()) out.push_back(p);
  }
  return out;
}

absl::Status Trainer::InitializeFrom(const std::string& path) {
  return AgreeAndBroadcast(ReadModelWeights(path), "training.init_checkpoint", path);
}

bool Trainer::AllRanksSucceeded(const absl::Status& status) {
  std::vector<torch::Tensor> failures = {torch::tensor({status.ok() ? 0.0 : 1.0}, torch::kFloat64)};
  comm_.AllReduceSum(failures);
  return failures[0].item<double>() == 0;
}

absl::Status Trainer::AgreeAndBroadcast(const absl::Status& status, const std::string& field,
                                        const std::string& path) {
  // Every rank read the file itself (it must be visible to all); agree on the outcome before
  // the broadcast, so that a rank that could not read it does not leave the others waiting.
  if (!AllRanksSucceeded(status)) {
    if (!status.ok()) return status;
    return absl::FailedPreconditionError(
        absl::StrCat(field, ": another rank could not read '", path, "' (see its error)"));
  }
  std::vector<torch::Tensor> state = AllParameters();
  torch::NoGradGuard no_grad;
  comm_.Broadcast(state, 0);  // bit-identical ranks whatever each read
  return absl::OkStatus();
}

absl::Status Trainer::FineTuneFrom(const std::string& path) {
  absl::StatusOr<std::string> taken = ReadTrainedLayers(path);
  FTL_RETURN_IF_ERROR(AgreeAndBroadcast(taken.status(), "model.init_from", path));
  if (comm_.rank() == 0) Log("model.init_from: ", *taken, " from ", path, "; a fresh classifier");
  return absl::OkStatus();
}

absl::StatusOr<std::string> Trainer::ReadTrainedLayers(const std::string& path) {
  const ModelShape& mine = config_.model;
  auto other_layers = [&](const std::string& theirs) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "model.init_from: '%s' is a model of other layers (%s) than this job's (%dx%dx%d, D %d, "
        "preset '%s')",
        path, theirs, mine.input_size, mine.input_size, mine.channels, mine.feature_dim,
        config_.preset));
  };
  torch::NoGradGuard no_grad;
  absl::StatusOr<TrainedModel> trained = LoadTrainedModel(path);
  if (trained.ok()) {
    const ModelShape& s = trained->shape;
    if (!SameLayers(s, mine)) {
      return other_layers(absl::StrFormat("%dx%dx%d, D %d, preset '%s'", s.input_size, s.input_size,
                                          s.channels, s.feature_dim, trained->preset));
    }
    const auto source = trained->model->named_parameters();
    for (auto& p : model_->named_parameters()) p.value().copy_(source[p.key()]);
    const auto source_buffers = trained->model->named_buffers();  // batch-norm statistics
    for (auto& b : model_->named_buffers()) b.value().copy_(source_buffers[b.key()]);
    return std::string(model_->dec ? "Enc, Dec, R" : "Enc, R");
  }
  const ModelFileKind kind = SniffModelFile(path);
  if (kind == ModelFileKind::kTorchScript) {
    // Never loaded: a TorchScript module's code runs while it loads (__setstate__ can read and
    // write files), and a job's files may come from anyone allowed to submit one.
    return absl::InvalidArgumentError(absl::StrCat(
        "model.init_from: '", path,
        "' is a TorchScript module, which is code (it runs as it loads); a job reads model files "
        "as data only. Give the checkpoint it was exported from, or an export made with "
        "`ftl export --format safetensors`"));
  }
  if (kind != ModelFileKind::kSafetensors) {
    if (kind == ModelFileKind::kCheckpoint || kind == ModelFileKind::kFolder ||
        trained.status().code() != absl::StatusCode::kInvalidArgument) {
      return trained.status();
    }
    return absl::InvalidArgumentError(absl::StrCat(
        "model.init_from: '", path,
        "' is neither an FTL checkpoint nor an `ftl export --format safetensors` file"));
  }
  FTL_ASSIGN_OR_RETURN(const EmbeddingFile exported, ReadEmbeddingFile(path));
  const ModelShape& s = exported.shape;
  if (!SameLayers(s, mine)) {
    return other_layers(absl::StrFormat("%dx%dx%d, D %d, preset '%s'", s.input_size, s.input_size,
                                        s.channels, s.feature_dim, exported.preset));
  }
  const bool with_filter = exported.info.features == "f";
  // Same layers, so the same names and shapes: these loads cannot fail half-way.
  FTL_RETURN_IF_ERROR(LoadModuleTensors(*model_->enc, ModuleTensors(*exported.model->enc), "",
                                        absl::StrCat("'", path, "'")));
  if (with_filter) {
    FTL_RETURN_IF_ERROR(LoadModuleTensors(*model_->filter, ModuleTensors(*exported.model->filter),
                                          "", absl::StrCat("'", path, "'")));
  }
  if (!model_->dec) return std::string(with_filter ? "Enc, R" : "Enc (R fresh: the file holds g)");
  return std::string(with_filter ? "Enc, R (Dec fresh: an export holds no decoder)"
                                 : "Enc (Dec and R fresh: the file holds g)");
}

absl::Status Trainer::ReadModelWeights(const std::string& path) {
  FTL_ASSIGN_OR_RETURN(const TrainerCheckpoint checkpoint, ReadOwnCheckpoint(path));
  // The samplers go on where that run's left off, so that a continued run draws new batches
  // rather than replaying the ones its starting model was trained on.
  return LoadModelAndSteps(path, checkpoint);
}

absl::Status Trainer::LoadModelAndSteps(const std::string& path,
                                        const TrainerCheckpoint& checkpoint) {
  const std::string source = absl::StrCat("checkpoint '", path, "'");
  // All or nothing: the classifier first (each load is), put back if the network is refused.
  std::vector<torch::Tensor> classifier_before;
  for (const torch::Tensor& p : classifier_->named_parameters().values()) {
    classifier_before.push_back(p.detach().clone());
  }
  absl::Status loaded = classifier_->LoadCheckpointTensors(checkpoint.classifier, source);
  if (loaded.ok()) {
    loaded = LoadModuleTensors(*model_, checkpoint.model, "", source);
    if (!loaded.ok()) {
      torch::NoGradGuard no_grad;
      const auto now = classifier_->named_parameters().values();
      for (size_t i = 0; i < now.size(); ++i) {
        torch::Tensor p = now[i];
        p.copy_(classifier_before[i]);
      }
    }
  }
  if (!loaded.ok()) return absl::DataLossError(loaded.message());
  pretrain_step_ = checkpoint.pretrain_step;
  stage1_step_ = checkpoint.stage1_step;
  stage2_step_ = checkpoint.stage2_step;
  return absl::OkStatus();
}

Trainer::~Trainer() = default;

AllReduceStats Trainer::allreduce_stats() const {
  AllReduceStats total;
  for (const auto* averager :
       {pretrain_averager_.get(), stage1_averager_.get(), stage2_averager_.get()}) {
    total.calls += averager->stats().calls;
    total.bytes += averager->stats().bytes;
    total.seconds += averager->stats().seconds;
    total.buckets_started_in_backward += averager->stats().buckets_started_in_backward;
  }
  return total;
}

bool Trainer::autocast() const { return device_.is_cuda() && config_.runtime.bf16_autocast; }

std::unique_ptr<BatchPrefetcher> Trainer::Batches(std::function<torch::Tensor(int64_t)> rows_of,
                                                  int64_t count) const {
  return std::make_unique<BatchPrefetcher>(
      dataset_, std::move(rows_of), count, config_.data.loader_threads,
      config_.data.prefetch_batches, /*pin_memory=*/device_.is_cuda());
}

std::unique_ptr<BatchPrefetcher> Trainer::StripeBatches(const torch::Tensor& stripe) const {
  const int64_t chunks = (stripe.size(0) + kEncodeBatch - 1) / kEncodeBatch;
  return Batches(
      [stripe](int64_t k) { return stripe.slice(0, k * kEncodeBatch, (k + 1) * kEncodeBatch); },
      chunks);
}

torch::Tensor Trainer::DeviceImages(const torch::Tensor& images) const {
  if (device_.is_cpu()) return images.to(torch::kFloat32).div_(255.0);
  // To a GPU as uint8 (a quarter of the bytes) and converted there; the loader pinned it.
  return images.to(device_, /*non_blocking=*/images.is_pinned()).to(torch::kFloat32).div_(255.0);
}

std::pair<torch::Tensor, torch::Tensor> Trainer::DeviceBatch(
    const BatchPrefetcher::Batch& batch) const {
  return {DeviceImages(batch.images), dataset_.labels.index_select(0, batch.rows).to(device_)};
}

torch::Tensor Trainer::Augment(const torch::Tensor& x, SampleStream stream, int64_t step) const {
  const int64_t global_batch = int64_t{config_.training.batch_size} * comm_.size();
  torch::Tensor out = x;
  if (config_.data.random_crop_pixels > 0) {
    out = ShiftImages(out, LocalSlice(CropShifts(config_.training.seed, stream, step, global_batch,
                                                 config_.data.random_crop_pixels)));
  }
  if (config_.data.random_flip) {
    const torch::Tensor mask =
        LocalSlice(FlipMask(config_.training.seed, stream, step, global_batch)).to(x.device());
    out = torch::where(mask.view({-1, 1, 1, 1}), out.flip({3}), out);
  }
  return out;
}

torch::Tensor Trainer::LocalSlice(const torch::Tensor& global_batch) const {
  return RankSlice(global_batch, comm_.rank(), comm_.size());
}

void Trainer::SetTrainable(PhaseKind phase) {
  const bool pre = phase == PhaseKind::kPretrain;
  const std::vector<torch::Tensor> frozen = model_->enc->frozen_parameters();
  auto set = [&frozen](torch::nn::Module& module, bool value) {
    for (torch::Tensor& p : module.parameters()) p.set_requires_grad(value && !IsOneOf(p, frozen));
  };
  set(*model_->enc, pre || phase == PhaseKind::kStageTwo);
  if (model_->dec) set(*model_->dec, pre || phase == PhaseKind::kStageTwo);
  set(*model_->filter, true);
  classifier_->SetTrainable(pre || phase == PhaseKind::kStageOne);
}

void Trainer::Step(PhaseOptimizer& phase, GradientAverager& averager, const torch::Tensor& loss) {
  phase.optimizer->zero_grad();
  averager.BeginBackward(comm_);
  loss.backward();
  averager.FinishBackward(comm_);
  // After the average: every rank clips by the same norm, that of the whole model's gradient
  // (a sharded classifier's rows' part summed across ranks).
  if (phase.config.clip_grad_norm > 0) {
    if (classifier_->averages_gradients()) {
      ClipGradientNorm(*phase.optimizer, phase.config.clip_grad_norm);
    } else {
      ClipGradientNorm(*phase.optimizer, phase.config.clip_grad_norm,
                       classifier_->named_parameters().values(), [this](double own) {
                         std::vector<torch::Tensor> sum = {torch::tensor({own}, torch::kFloat64)};
                         comm_.AllReduceSum(sum);
                         return sum[0].item<double>();
                       });
    }
  }
  phase.optimizer->step();
}

PhaseReport Trainer::FinishReport(const std::string& phase, int round, int64_t iterations,
                                  double seconds, int64_t images,
                                  std::map<std::string, double> loss_sums) {
  // Mean over iterations and ranks.
  std::vector<double> values;
  for (const auto& [name, sum] : loss_sums) values.push_back(sum);
  if (!values.empty()) {
    std::vector<torch::Tensor> t = {torch::tensor(values, torch::kFloat64)};
    comm_.AllReduceSum(t);
    values.assign(t[0].data_ptr<double>(), t[0].data_ptr<double>() + values.size());
  }
  PhaseReport report;
  report.phase = phase;
  report.round = round;
  report.iterations = iterations;
  report.seconds = seconds;
  report.images = images;
  size_t i = 0;
  for (const auto& [name, sum] : loss_sums) {
    report.losses[name] = values[i++] / std::max<int64_t>(1, iterations) / comm_.size();
  }
  return report;
}

PhaseReport Trainer::TrainOnAllData(PhaseKind phase, int64_t iterations, int round,
                                    const ProgressCallback& progress) {
  const bool pretrain = phase == PhaseKind::kPretrain;
  PhaseOptimizer& optimizer = pretrain ? optimizers_->pretrain : optimizers_->stage2;
  GradientAverager& averager = pretrain ? *pretrain_averager_ : *stage2_averager_;
  EpochSampler& sampler = pretrain ? pretrain_samples_ : stage2_samples_;
  int64_t& step = pretrain ? pretrain_step_ : stage2_step_;
  const bool balanced = pretrain && config_.training.pretrain_sampling == Sampling::kClassBalanced;

  SetTrainable(phase);
  model_->train();
  const auto start = std::chrono::steady_clock::now();
  const int64_t global_batch = int64_t{config_.training.batch_size} * comm_.size();
  std::map<std::string, double> sums;
  const std::unique_ptr<BatchPrefetcher> batches = Batches(
      [this, &sampler, balanced, first = step, global_batch](int64_t k) {
        return LocalSlice(balanced ? balanced_pretrain_samples_.Batch(first + k, global_batch)
                                   : sampler.Batch(first + k, global_batch));
      },
      iterations);
  const SampleStream stream = pretrain ? SampleStream::kPretrain : SampleStream::kStageTwo;
  for (int64_t it = 0; it < iterations; ++it) {
    const auto [raw, y] = DeviceBatch(batches->Next());
    const torch::Tensor x = Augment(raw, stream, step);
    torch::Tensor f, reconstruction;
    {
      Bf16AutocastScope autocast_scope(autocast());
      const torch::Tensor g = model_->enc->forward(x);
      f = model_->filter->forward(g);
      if (model_->dec) reconstruction = model_->dec->forward(g).to(torch::kFloat32);
    }
    const LossTerms terms = ClassifierLosses(f, y, reconstruction, x);
    optimizer.ScheduleStep(step);
    Step(optimizer, averager, terms.total);
    ++step;
    // Terms a job does not have (m-L2 under a margin head, reconstruction without a decoder) are
    // left out rather than reported as numbers.
    std::map<std::string, double> losses = {{"sfmx", terms.sfmx.item<double>()},
                                            {"total", terms.total.item<double>()}};
    if (terms.recon.defined()) losses["recon"] = terms.recon.item<double>();
    if (terms.reg.defined()) losses["reg"] = terms.reg.item<double>();
    for (const auto& [k, v] : losses) sums[k] += v;
    if (progress) progress({phase, round, it + 1, iterations, losses, global_batch});
  }
  SetTrainable(PhaseKind::kPretrain);
  return FinishReport(PhaseName(phase), round, iterations, Seconds(start),
                      iterations * global_batch, sums);
}

PhaseReport Trainer::Pretrain(int64_t iterations, const ProgressCallback& progress) {
  return TrainOnAllData(PhaseKind::kPretrain, iterations, -1, progress);
}

PhaseReport Trainer::StageTwo(int64_t iterations, int round, const ProgressCallback& progress) {
  return TrainOnAllData(PhaseKind::kStageTwo, iterations, round, progress);
}

void Trainer::SyncBuffers() {
  std::vector<torch::Tensor> buffers;
  for (const torch::Tensor& b : model_->buffers()) {
    if (b.is_floating_point()) buffers.push_back(b);  // not num_batches_tracked (unused)
  }
  if (buffers.empty()) return;  // the paper presets: no batch norm
  torch::NoGradGuard no_grad;
  comm_.Broadcast(buffers, 0);
}

PhaseReport Trainer::UpdateStats() {
  SyncBuffers();
  torch::NoGradGuard no_grad;
  model_->eval();
  const auto start = std::chrono::steady_clock::now();
  const int64_t n = dataset_.size();
  const int64_t num_classes = dataset_.num_classes();
  const int64_t dim = config_.model.feature_dim;
  // This rank's shard: samples rank, rank + R, rank + 2R, ...
  const torch::Tensor local = torch::arange(comm_.rank(), n, comm_.size(), torch::kInt64);
  const torch::Tensor local_labels = dataset_.labels.index_select(0, local).to(device_);
  // Cached g, O(shard x D), float32 whatever the forward precision.
  torch::Tensor local_features =
      torch::empty({local.size(0), dim}, torch::TensorOptions().device(device_));

  CenterAccumulator center_sums(num_classes, dim, device_);
  const std::unique_ptr<BatchPrefetcher> chunks = StripeBatches(local);
  PassProgress pass("update_stats", n, comm_.rank(), config_.runtime.progress_seconds);
  for (int64_t begin = 0; begin < local.size(0); begin += kEncodeBatch) {
    pass.Update(begin, local.size(0));
    const BatchPrefetcher::Batch batch = chunks->Next();
    const torch::Tensor& rows = batch.rows;
    const auto [x, y] = DeviceBatch(batch);
    torch::Tensor g, g_flip;
    {
      Bf16AutocastScope autocast_scope(autocast());
      g = model_->enc->forward(x).to(torch::kFloat32);
      g_flip = model_->enc->forward(x.flip({3})).to(torch::kFloat32);
    }
    local_features.slice(0, begin, begin + rows.size(0)).copy_(g);
    // Eq. 5's filter: the flipped image's yaw is -yaw, so |p| + |p_bar| = 2|p|.
    torch::Tensor passes;
    if (dataset_.yaw.defined()) {
      passes = dataset_.yaw.index_select(0, rows).abs().mul(2.0) <= config_.data.yaw_tau;
    }
    center_sums.Add(g, g_flip, y, passes);
  }
  std::vector<torch::Tensor> center_tensors = center_sums.tensors();
  comm_.AllReduceSum(center_tensors);
  const ClassCenters centers = FinishCenters(center_sums);

  SpreadAccumulator spread(num_classes, dim, device_);
  spread.Add(local_features, local_labels, centers.centers, is_regular_);
  std::vector<torch::Tensor> spread_tensors = spread.tensors();
  comm_.AllReduceSum(spread_tensors);
  const torch::Tensor mean_distances = spread.mean_distances();

  torch::Tensor hard = torch::zeros({n}, torch::kFloat32);
  hard.index_put_({local}, HardSampleMask(local_features, local_labels, centers.centers,
                                          mean_distances, is_regular_)
                               .to(torch::kCPU, torch::kFloat32));
  std::vector<torch::Tensor> hard_tensor = {hard};
  comm_.AllReduceSum(hard_tensor);

  const TransferBasis basis = ComputeTransferBasis(
      spread.covariance(), config_.training.pca_components, config_.training.pca_energy);
  stats_.valid = true;
  stats_.centers = centers.centers;
  stats_.basis = basis.q.to(device_);
  stats_.eigenvalues = basis.eigenvalues;
  stats_.mean_distances = mean_distances.cpu();
  stats_.hard_mask = hard > 0.5;
  stats_.energy_kept = basis.energy_kept;
  hard_samples_ = EpochSampler(stats_.hard_mask.nonzero().squeeze(1), config_.training.seed,
                               SampleStream::kStageOneHard);

  model_->train();
  PhaseReport report = FinishReport("update_stats", -1, 0, Seconds(start), 2 * n, {});
  auto& m = report.metrics;
  m["pca_components"] = static_cast<double>(basis.components);
  m[metric_names::kPcaEnergyKept] = basis.energy_kept;
  m["hard_samples"] = static_cast<double>(hard_samples_.pool_size());
  m["yaw_fallback_classes"] = static_cast<double>(centers.yaw_fallback_classes);
  m["regular_classes"] = static_cast<double>(num_classes - ur_classes_.size());
  m["ur_classes"] = static_cast<double>(ur_classes_.size());
  return report;
}

PhaseReport Trainer::StageOne(int64_t iterations, int round, const ProgressCallback& progress) {
  TORCH_CHECK(stats_.valid, "stage 1 needs UpdateStats first");
  SetTrainable(PhaseKind::kStageOne);
  model_->train();
  // Fig. 1b per class, before and after this stage 1: the bias it is meant to remove (written
  // outside the phase's timing).
  WriteWeightNorms(absl::StrCat("weight_norms_stage1_r", round, "_before.csv"));
  const auto start = std::chrono::steady_clock::now();
  const double ratio_before = UrToRegularWeightNormRatio();
  const int64_t global_batch = int64_t{config_.training.batch_size} * comm_.size();
  const bool have_hard = hard_samples_.pool_size() > 0;
  const bool have_ur = !ur_samples_.empty();
  auto classify_loss = [this](const torch::Tensor& g, const torch::Tensor& y) {
    torch::Tensor f;
    {
      Bf16AutocastScope autocast_scope(autocast());
      f = model_->filter->forward(g);
    }
    return ClassifierLosses(f, y, torch::Tensor(), torch::Tensor());
  };
  // g of images x (the encoder is frozen in stage 1: no graph, and batch norm on its running
  // statistics, as UpdateStats saw it), float32.
  auto encode = [this](const torch::Tensor& x) {
    torch::NoGradGuard no_grad;
    model_->enc->eval();
    struct TrainAgain {
      Encoder& enc;
      ~TrainAgain() { enc->train(); }
    } train_again{model_->enc};
    Bf16AutocastScope autocast_scope(autocast());
    return model_->enc->forward(x).to(torch::kFloat32);
  };
  std::map<std::string, double> sums;
  int64_t images = 0;
  const ThirdBatch third = config_.training.stage1_third_batch;
  std::unique_ptr<BatchPrefetcher> hard_batches, ur_batches, second_ur_batches;
  if (have_hard) {
    hard_batches =
        Batches([this, first = stage1_step_, global_batch](
                    int64_t k) { return LocalSlice(hard_samples_.Batch(first + k, global_batch)); },
                iterations);
  }
  if (have_ur) {
    ur_batches =
        Batches([this, first = stage1_step_, global_batch](
                    int64_t k) { return LocalSlice(ur_samples_.Batch(first + k, global_batch)); },
                iterations);
  }
  if (have_ur && third == ThirdBatch::kUr) {
    second_ur_batches = Batches(
        [this, first = stage1_step_, global_batch](int64_t k) {
          return LocalSlice(second_ur_samples_.Batch(first + k, global_batch));
        },
        iterations);
  }
  for (int64_t it = 0; it < iterations; ++it) {
    std::map<std::string, double> losses;
    int64_t step_images = 0;
    optimizers_->stage1.ScheduleStep(stage1_step_);
    // (1) a hard regular batch from h, so that regular classes do not degrade.
    torch::Tensor g_regular, y_regular;
    if (have_hard) {
      const auto [x, y] = DeviceBatch(hard_batches->Next());
      y_regular = y;
      g_regular = encode(Augment(x, SampleStream::kStageOneHard, stage1_step_));
      const LossTerms terms = classify_loss(g_regular, y_regular);
      Step(optimizers_->stage1, *stage1_averager_, terms.total);
      losses["sfmx_regular"] = terms.sfmx.item<double>();
      if (terms.reg.defined()) losses["reg"] = terms.reg.item<double>();
      step_images += global_batch;
    }
    if (have_ur) {
      // (2) a UR batch, class-balanced.
      const auto [x_ur, y_ur] = DeviceBatch(ur_batches->Next());
      const torch::Tensor g_ur = encode(Augment(x_ur, SampleStream::kStageOneUr, stage1_step_));
      const LossTerms terms = classify_loss(g_ur, y_ur);
      Step(optimizers_->stage1, *stage1_averager_, terms.total);
      losses["sfmx_ur"] = terms.sfmx.item<double>();
      step_images += global_batch;
      // (3) the transferred batch: the regular batch's variation moved onto the UR centres (Eq. 7),
      // or a control in its place (training.stage1_third_batch).
      const auto [g_third, y_third] =
          ThirdBatchOf(third, g_regular, y_regular, y_ur, second_ur_batches.get(), encode);
      if (g_third.defined()) {
        const LossTerms transfer_terms = classify_loss(g_third, y_third);
        Step(optimizers_->stage1, *stage1_averager_, transfer_terms.total);
        losses[third == ThirdBatch::kTransfer ? "sfmx_transfer" : "sfmx_third"] =
            transfer_terms.sfmx.item<double>();
        step_images += global_batch;
      }
    }
    ++stage1_step_;
    for (const auto& [k, v] : losses) sums[k] += v;
    images += step_images;
    if (progress) progress({PhaseKind::kStageOne, round, it + 1, iterations, losses, step_images});
  }
  SetTrainable(PhaseKind::kPretrain);
  PhaseReport report = FinishReport("stage1", round, iterations, Seconds(start), images, sums);
  WriteWeightNorms(absl::StrCat("weight_norms_stage1_r", round, "_after.csv"));
  report.metrics[metric_names::kUrRegularNormRatioBefore] = ratio_before;
  report.metrics[metric_names::kUrRegularNormRatioAfter] = UrToRegularWeightNormRatio();
  return report;
}

std::pair<torch::Tensor, torch::Tensor> Trainer::ThirdBatchOf(
    ThirdBatch kind, const torch::Tensor& g_regular, const torch::Tensor& y_regular,
    const torch::Tensor& y_ur, BatchPrefetcher* second_ur,
    const std::function<torch::Tensor(const torch::Tensor&)>& encode) const {
  const FtlStatistics& s = stats_;
  const int64_t global_batch = int64_t{config_.training.batch_size} * comm_.size();
  const uint64_t seed = config_.training.seed;
  // Where FTL has no transferred batch (a round with no hard regular sample), no control has a
  // third batch either: the controls keep FTL's step count in every iteration.
  if (!g_regular.defined()) return {};
  switch (kind) {
    case ThirdBatch::kNone:
      return {};
    case ThirdBatch::kTransfer:
      return {TransferFeatures(g_regular, y_regular, y_ur, s.centers, s.basis), y_ur};
    case ThirdBatch::kRandomBasis: {
      const torch::Tensor basis =
          RandomOrthonormalBasis(seed, stage1_step_, s.basis.size(0), s.basis.size(1))
              .to(s.centers.device());
      return {TransferFeatures(g_regular, y_regular, y_ur, s.centers, basis), y_ur};
    }
    case ThirdBatch::kCenter:
      return {CenterFeatures(y_ur, s.centers), y_ur};
    case ThirdBatch::kCenterNoise: {
      // Drawn for the global batch and sliced: R ranks draw what one rank of R x B would.
      const torch::Tensor noise = LocalSlice(PortableNormals(seed, kCenterNoiseTag, stage1_step_,
                                                             global_batch, s.basis.size(1)))
                                      .to(s.centers.device());
      // V (Eq. 6) sums over the regular samples: its eigenvalues over their count are the
      // per-sample variances along Q, the spread real regular offsets have.
      const torch::Tensor variances = s.eigenvalues / static_cast<double>(regular_samples_);
      return {CenterNoiseFeatures(y_ur, s.centers, s.basis, variances, noise), y_ur};
    }
    case ThirdBatch::kUr: {
      TORCH_CHECK(second_ur != nullptr, "stage1_third_batch ur without its UR batches");
      const auto [x, y] = DeviceBatch(second_ur->Next());
      return {encode(Augment(x, SampleStream::kStageOneSecondUr, stage1_step_)), y};
    }
  }
  return {};
}

double Trainer::UrToRegularWeightNormRatio() const {
  torch::NoGradGuard no_grad;
  const torch::Tensor norms = classifier_->WeightNorms();
  const torch::Tensor regular = is_regular_;
  const int64_t num_regular = regular.sum().item<int64_t>();
  const int64_t num_ur = regular.numel() - num_regular;
  if (num_regular == 0 || num_ur == 0) return std::nan("");
  const double ur_mean = norms.masked_select(~regular).mean().item<double>();
  const double regular_mean = norms.masked_select(regular).mean().item<double>();
  return ur_mean / regular_mean;
}

PhaseReport Trainer::Evaluate() {
  SyncBuffers();
  torch::NoGradGuard no_grad;
  model_->eval();
  const auto start = std::chrono::steady_clock::now();
  // Every image, or every k-th (k = ceil(N / max)): a systematic sample across the identities,
  // the same whatever the rank count.
  const int64_t cap = config_.evaluation.train_top1_max_images;
  const int64_t stride =
      cap > 0 && dataset_.size() > cap ? (dataset_.size() + cap - 1) / cap : int64_t{1};
  const torch::Tensor classified = torch::arange(0, dataset_.size(), stride, torch::kInt64);
  const int64_t n = classified.size(0);
  const torch::Tensor local =
      classified.index_select(0, torch::arange(comm_.rank(), n, comm_.size(), torch::kInt64));
  // [correct regular, total regular, correct UR, total UR]
  torch::Tensor counts = torch::zeros({4}, torch::kFloat64);
  const std::unique_ptr<BatchPrefetcher> chunks = StripeBatches(local);
  PassProgress pass("evaluate", n, comm_.rank(), config_.runtime.progress_seconds);
  // As many classifier calls on every rank (a sharded classifier's are collectives): rank 0's
  // stripe is the longest; a rank past the end of its own passes no rows.
  const int64_t calls = ((n + comm_.size() - 1) / comm_.size() + kEncodeBatch - 1) / kEncodeBatch;
  for (int64_t call = 0; call < calls; ++call) {
    const int64_t begin = call * kEncodeBatch;
    if (begin >= local.size(0)) {
      classifier_->Predict(torch::empty({0, config_.model.feature_dim}, device_));
      continue;
    }
    pass.Update(begin, local.size(0));
    const BatchPrefetcher::Batch batch = chunks->Next();
    const torch::Tensor y = dataset_.labels.index_select(0, batch.rows);
    torch::Tensor f;
    {
      Bf16AutocastScope autocast_scope(autocast());
      f = model_->filter->forward(model_->enc->forward(DeviceImages(batch.images)));
    }
    const torch::Tensor predicted = classifier_->Predict(f).label.cpu();
    const torch::Tensor correct = (predicted == y).to(torch::kFloat64);
    const torch::Tensor regular = is_regular_.index_select(0, y).to(torch::kFloat64);
    counts[0] += (correct * regular).sum();
    counts[1] += regular.sum();
    counts[2] += (correct * (1 - regular)).sum();
    counts[3] += (1 - regular).sum();
  }
  std::vector<torch::Tensor> t = {counts};
  comm_.AllReduceSum(t);
  model_->train();
  PhaseReport report = FinishReport("evaluate", -1, 0, Seconds(start), n, {});
  auto& m = report.metrics;
  const auto c = counts.accessor<double, 1>();
  if (c[1] > 0) m[metric_names::kTrainTop1Regular] = c[0] / c[1];
  if (c[3] > 0) m[metric_names::kTrainTop1Ur] = c[2] / c[3];
  const double ratio = UrToRegularWeightNormRatio();
  if (!std::isnan(ratio)) m[metric_names::kUrRegularNormRatio] = ratio;
  WriteWeightNorms("weight_norms.csv");
  report.seconds = Seconds(start);
  return report;
}

absl::Status Trainer::SaveCheckpoint(const std::string& path, int64_t schedule_position) {
  SyncBuffers();  // every rank resumes from rank 0's batch-norm statistics, as it saved them
  // Every rank: a sharded classifier gathers its rows for rank 0 to write.
  std::map<std::string, torch::Tensor> classifier_tensors = classifier_->CheckpointTensors();
  std::map<std::string, TensorMap> optimizer_states = OptimizerStates();
  absl::Status status;
  if (comm_.rank() == 0) {
    TrainerCheckpoint checkpoint;
    checkpoint.identity = {NetworkName(config_.preset, config_.model),
                           dataset_.num_classes(),
                           dataset_.size(),
                           config_.model.feature_dim,
                           config_.model.input_size,
                           config_.model.channels};
    checkpoint.position = schedule_position;
    checkpoint.pretrain_step = pretrain_step_;
    checkpoint.stage1_step = stage1_step_;
    checkpoint.stage2_step = stage2_step_;
    checkpoint.recipe = EncodeRecipe(TrainingRecipe(config_));
    checkpoint.model = ModuleTensors(*model_);
    checkpoint.classifier = std::move(classifier_tensors);
    checkpoint.optimizers = std::move(optimizer_states);
    checkpoint.stats = stats_;
    status = WriteCheckpointFile(path, EncodeTrainerCheckpoint(checkpoint));
  }
  // Every rank learns whether rank 0's write worked.
  std::string message = status.ok() ? "" : std::string(status.message());
  comm_.BroadcastBytes(message, 0);
  if (!message.empty()) return absl::InternalError(message);
  return absl::OkStatus();
}

absl::StatusOr<TrainerCheckpoint> Trainer::ReadOwnCheckpoint(const std::string& path) const {
  FTL_ASSIGN_OR_RETURN(NamedTensors contents, ReadCheckpointFile(path));
  FTL_ASSIGN_OR_RETURN(TrainerCheckpoint checkpoint,
                       DecodeTrainerCheckpoint(std::move(contents), path));
  const CheckpointIdentity& found = checkpoint.identity;
  const std::string mine = NetworkName(config_.preset, config_.model);
  if (found.network != mine) {
    return absl::FailedPreconditionError(absl::StrCat("checkpoint '", path,
                                                      "' was made for another network (",
                                                      found.network, "), this job has ", mine));
  }
  const std::vector<int64_t> expected = {dataset_.num_classes(), dataset_.size(),
                                         config_.model.feature_dim, config_.model.input_size,
                                         config_.model.channels};
  const std::vector<int64_t> have = {found.num_classes, found.num_images, found.feature_dim,
                                     found.input_size, found.channels};
  if (have != expected) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "checkpoint '%s' was made for another job: (classes, images, D, input, channels) = "
        "(%d, %d, %d, %d, %d), this job has (%d, %d, %d, %d, %d)",
        path, have[0], have[1], have[2], have[3], have[4], expected[0], expected[1], expected[2],
        expected[3], expected[4]));
  }
  return checkpoint;
}

absl::StatusOr<int64_t> Trainer::LoadCheckpoint(const std::string& path, CheckpointUse use) {
  absl::StatusOr<int64_t> position = LoadCheckpointOnThisRank(path, use);
  // Each rank takes its own part (a sharded classifier's rows, their optimizer state), and may
  // refuse it alone: the ranks go on, or move to an older checkpoint, together.
  if (!AllRanksSucceeded(position.status())) {
    if (!position.ok()) return position.status();
    return absl::DataLossError(
        absl::StrCat("checkpoint '", path, "': another rank could not load it (see its error)"));
  }
  return position;
}

absl::StatusOr<int64_t> Trainer::LoadCheckpointOnThisRank(const std::string& path,
                                                          CheckpointUse use) {
  FTL_ASSIGN_OR_RETURN(const TrainerCheckpoint checkpoint, ReadOwnCheckpoint(path));
  if (use == CheckpointUse::kSameRun || use == CheckpointUse::kChangedRun) {
    if (checkpoint.recipe.empty()) {
      if (comm_.rank() == 0)
        Log("checkpoint '", path, "' was written before checkpoints carried their recipe: ",
            "resuming without checking that it is this job's run");
    } else {
      const std::vector<std::string> differences =
          RecipeDifferences(ParseRecipe(checkpoint.recipe), TrainingRecipe(config_));
      if (!differences.empty() && use == CheckpointUse::kChangedRun) {
        if (comm_.rank() == 0) {
          Log("resuming '", path, "' despite ", differences.size(),
              " changed setting(s) (--resume_despite_changes): ", absl::StrJoin(differences, "; "));
        }
      } else if (!differences.empty()) {
        constexpr size_t kNamed = 5;
        std::vector<std::string> named(
            differences.begin(), differences.begin() + static_cast<std::ptrdiff_t>(
                                                           std::min(differences.size(), kNamed)));
        const std::string more = differences.size() > kNamed
                                     ? absl::StrCat("; and ", differences.size() - kNamed, " more")
                                     : "";
        // InvalidArgument: the job as given cannot continue this folder (exit code 2, not
        // retried: a retry would be refused the same way).
        return absl::InvalidArgumentError(absl::StrCat(
            "checkpoint '", path, "' is another run's (", differences.size(),
            " setting(s) differ: ", absl::StrJoin(named, "; "), more,
            "). Give this job its own runtime.output_dir, start a new run from those weights "
            "with training.init_checkpoint, or resume with --resume_despite_changes"));
      }
    }
  }
  // (Shapes of the statistics were checked against the identity, the identity against the job.)
  // A part refused after the model loaded leaves the trainer half-loaded: LoadNewestCheckpoint
  // then loads an older file, which sets every part again, or the job stops.
  const NamedParameters names = ParameterNames();
  const std::string source = absl::StrCat("checkpoint '", path, "'");
  const std::vector<std::pair<const char*, PhaseOptimizer*>> phases = {
      {"pretrain", &optimizers_->pretrain},
      {"stage1", &optimizers_->stage1},
      {"stage2", &optimizers_->stage2}};
  const FtlStatistics& s = checkpoint.stats;
  FTL_RETURN_IF_ERROR(LoadModelAndSteps(path, checkpoint));
  for (const auto& [phase, optimizer] : phases) {
    const auto it = checkpoint.optimizers.find(phase);
    TensorMap state = it == checkpoint.optimizers.end() ? TensorMap() : it->second;
    // The file holds every class's rows of the classifier's state; this rank steps its own.
    for (auto& [name, tensor] : state) {
      if (IsClassifierRowState(name) && tensor.dim() >= 1 &&
          tensor.size(0) == classifier_->num_classes()) {
        tensor = classifier_->OwnRows(tensor);
      }
    }
    absl::Status loaded = LoadOptimizerStateTensors(*optimizer->optimizer, names, state, source);
    if (!loaded.ok()) return absl::DataLossError(loaded.message());
  }
  stats_ = FtlStatistics();
  if (s.valid) {
    stats_ = s;
    stats_.centers = s.centers.to(device_);
    stats_.basis = s.basis.to(device_);
    stats_.eigenvalues = s.eigenvalues.to(device_);
    hard_samples_ = EpochSampler(stats_.hard_mask.nonzero().squeeze(1), config_.training.seed,
                                 SampleStream::kStageOneHard);
  }
  return checkpoint.position;
}

void Trainer::WriteWeightNorms(const std::string& file_name) {
  torch::NoGradGuard no_grad;
  // Every rank: a sharded classifier's norms are gathered.
  const torch::Tensor norms = classifier_->WeightNorms().to(torch::kFloat64);
  if (comm_.rank() != 0) return;
  const torch::Tensor counts = dataset_.ClassCounts();
  std::string text = "class,images,regular,weight_norm\n";
  for (int64_t c = 0; c < dataset_.num_classes(); ++c) {
    absl::StrAppend(&text, dataset_.class_names[c], ",", counts[c].item<int64_t>(), ",",
                    is_regular_[c].item<bool>() ? 1 : 0, ",", norms[c].item<double>(), "\n");
  }
  const std::filesystem::path path = std::filesystem::path(config_.runtime.output_dir) / file_name;
  std::error_code ec;
  std::filesystem::create_directories(path.parent_path(), ec);
  const absl::Status written = WriteFileAtomically(path.string(), text);
  if (!written.ok()) Log("weight norms: ", written.message());
}

}  // namespace ftl
