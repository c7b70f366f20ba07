#include "common/config/job_spec_conversion.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <set>
#include <sstream>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/util/file.h"
#include "common/util/log.h"
#include "common/util/status_macros.h"
#include "google/protobuf/util/json_util.h"

namespace ftl {
namespace {

namespace fs = std::filesystem;

template <typename T>
absl::Status CheckRange(const char* field, T value, T lo, T hi) {
  // NaN compares false with everything, so it would pass `value < lo || value > hi`.
  if constexpr (std::is_floating_point_v<T>) {
    if (!std::isfinite(value)) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": must be a finite number, got ", value));
    }
  }
  if (value < lo || value > hi) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": must be in [", lo, ", ", hi, "], got ", value));
  }
  return absl::OkStatus();
}

// Applies `has ? value : default` and range-checks the result.
template <typename T, typename U>
absl::Status Take(const char* field, bool has, U value, T lo, T hi, T* out) {
  if (has) *out = static_cast<T>(value);
  return CheckRange<T>(field, *out, lo, hi);
}

absl::Status CheckExists(const char* field, const std::string& path, bool want_directory) {
  if (path.empty()) return absl::InvalidArgumentError(absl::StrCat(field, ": is required"));
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  if (ec || !fs::exists(status)) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": '", path, "' does not exist"));
  }
  if (want_directory && !fs::is_directory(status)) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": '", path, "' is not a folder"));
  }
  if (!want_directory && !fs::is_regular_file(status)) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": '", path, "' is not a file"));
  }
  return absl::OkStatus();
}

// "" keeps the default.
absl::Status ParseReduction(const char* field, const std::string& name, Reduction* out) {
  if (name.empty()) return absl::OkStatus();
  if (name == "mean") {
    *out = Reduction::kMean;
  } else if (name == "sum") {
    *out = Reduction::kSum;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": must be \"mean\" or \"sum\", got \"", name, "\""));
  }
  return absl::OkStatus();
}

// "" keeps the default; otherwise `name` must be one of `choices`, named in the error.
template <typename T>
absl::Status ParseChoice(const char* field, const std::string& name,
                         std::initializer_list<std::pair<const char*, T>> choices, T* out) {
  if (name.empty()) return absl::OkStatus();
  std::string known;
  for (const auto& [choice, value] : choices) {
    if (name == choice) {
      *out = value;
      return absl::OkStatus();
    }
    absl::StrAppend(&known, known.empty() ? "" : ", ", choice);
  }
  return absl::InvalidArgumentError(
      absl::StrCat(field, ": must be one of ", known, "; got \"", name, "\""));
}

absl::Status FillHead(const v1::LossSpec& loss, HeadConfig* head) {
  FTL_RETURN_IF_ERROR(ParseChoice<HeadKind>("loss.head", loss.head(),
                                            {{"softmax", HeadKind::kSoftmax},
                                             {"cosface", HeadKind::kCosFace},
                                             {"arcface", HeadKind::kArcFace},
                                             {"combined", HeadKind::kCombined}},
                                            &head->kind));
  const bool margin = head->kind != HeadKind::kSoftmax;
  if (!margin) {
    if (loss.has_head_scale() || loss.has_margin_m1() || loss.has_margin_m2() ||
        loss.has_margin_m3() || loss.has_easy_margin()) {
      return absl::InvalidArgumentError(
          "loss.head: head_scale, margin_m1/m2/m3 and easy_margin need a margin head (cosface, "
          "arcface or combined); the softmax head has none");
    }
    return absl::OkStatus();
  }
  // arcface_torch's margin_list defaults: ArcFace (1, 0.5, 0), CosFace (1, 0, 0.4).
  if (head->kind == HeadKind::kArcFace) head->m2 = 0.5;
  if (head->kind == HeadKind::kCosFace) head->m3 = 0.4;
  FTL_RETURN_IF_ERROR(
      Take("loss.head_scale", loss.has_head_scale(), loss.head_scale(), 1e-3, 1e4, &head->scale));
  FTL_RETURN_IF_ERROR(
      Take("loss.margin_m1", loss.has_margin_m1(), loss.margin_m1(), 1.0, 10.0, &head->m1));
  FTL_RETURN_IF_ERROR(
      Take("loss.margin_m2", loss.has_margin_m2(), loss.margin_m2(), 0.0, 1.5, &head->m2));
  FTL_RETURN_IF_ERROR(
      Take("loss.margin_m3", loss.has_margin_m3(), loss.margin_m3(), 0.0, 2.0, &head->m3));
  if (loss.has_easy_margin()) head->easy_margin = loss.easy_margin();
  const bool arcface_shape = head->m1 == 1.0 && head->m3 == 0.0;
  if (head->kind == HeadKind::kCosFace && (head->m1 != 1.0 || head->m2 != 0.0)) {
    return absl::InvalidArgumentError(
        "loss.head: cosface has only margin_m3; use head \"combined\" for m1 or m2");
  }
  if (head->kind == HeadKind::kArcFace && !arcface_shape) {
    return absl::InvalidArgumentError(
        "loss.head: arcface has only margin_m2; use head \"combined\" for m1 or m3");
  }
  if (head->easy_margin && !arcface_shape) {
    return absl::InvalidArgumentError(
        "loss.easy_margin: applies to the ArcFace margin (m1 = 1, m3 = 0) only");
  }
  return absl::OkStatus();
}

// `base` overridden by the fields `phase` sets, then converted and range-checked.
absl::Status FillOptimizer(const std::string& field, const v1::OptimizerSpec& base,
                           const v1::OptimizerSpec& phase, OptimizerConfig* out) {
  v1::OptimizerSpec spec = base;
  spec.MergeFrom(phase);  // set fields (and non-empty strings) of `phase` win
  const std::string f = absl::StrCat("training.", field, ".");
  FTL_RETURN_IF_ERROR(ParseChoice<OptimizerKind>(
      (f + "type").c_str(), spec.type(),
      {{"adam", OptimizerKind::kAdam}, {"sgd", OptimizerKind::kSgd}}, &out->kind));
  FTL_RETURN_IF_ERROR(ParseChoice<LrSchedule>((f + "schedule").c_str(), spec.schedule(),
                                              {{"constant", LrSchedule::kConstant},
                                               {"poly", LrSchedule::kPoly},
                                               {"cosine", LrSchedule::kCosine}},
                                              &out->schedule));
  if (out->kind == OptimizerKind::kAdam && (spec.has_momentum() || spec.has_nesterov())) {
    return absl::InvalidArgumentError(
        absl::StrCat(f, "momentum/nesterov: apply to type \"sgd\" only"));
  }
  FTL_RETURN_IF_ERROR(Take((f + "momentum").c_str(), spec.has_momentum(), spec.momentum(), 0.0,
                           0.9999, &out->momentum));
  if (spec.has_nesterov()) out->nesterov = spec.nesterov();
  if (out->nesterov && out->momentum == 0.0) {
    return absl::InvalidArgumentError(absl::StrCat(f, "nesterov: needs momentum > 0"));
  }
  FTL_RETURN_IF_ERROR(Take((f + "weight_decay").c_str(), spec.has_weight_decay(),
                           spec.weight_decay(), 0.0, 1.0, &out->weight_decay));
  FTL_RETURN_IF_ERROR(Take<int64_t>((f + "warmup_iterations").c_str(), spec.has_warmup_iterations(),
                                    spec.warmup_iterations(), 0, int64_t{1} << 40,
                                    &out->warmup_iterations));
  FTL_RETURN_IF_ERROR(Take((f + "poly_power").c_str(), spec.has_poly_power(), spec.poly_power(),
                           0.01, 100.0, &out->poly_power));
  FTL_RETURN_IF_ERROR(Take((f + "clip_grad_norm").c_str(), spec.has_clip_grad_norm(),
                           spec.clip_grad_norm(), 0.0, 1e9, &out->clip_grad_norm));
  return absl::OkStatus();
}

absl::Status FillModel(const v1::ModelSpec& spec, JobConfig* config) {
  if (!spec.preset().empty() && !spec.backbone().empty() && spec.preset() != spec.backbone()) {
    return absl::InvalidArgumentError(absl::StrCat("model.backbone: \"", spec.backbone(),
                                                   "\" and model.preset \"", spec.preset(),
                                                   "\" differ; give one"));
  }
  if (!spec.preset().empty()) config->preset = spec.preset();
  if (!spec.backbone().empty()) config->preset = spec.backbone();
  absl::StatusOr<ModelShape> shape = ModelPreset(config->preset);
  if (!shape.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(spec.backbone().empty() ? "model.preset" : "model.backbone", ": unknown \"",
                     config->preset, "\" (known: ", absl::StrJoin(BackboneNames(), ", "), ")"));
  }
  config->model = *shape;
  ModelShape& m = config->model;
  if (m.from_arcface_torch()) {
    FTL_RETURN_IF_ERROR(ParseChoice<FilterKind>(
        "model.filter", spec.filter(),
        {{"mlp", FilterKind::kMlp}, {"identity", FilterKind::kIdentity}}, &m.filter));
  } else if (!spec.filter().empty() && spec.filter() != "paper") {
    return absl::InvalidArgumentError(absl::StrCat(
        "model.filter: the ", config->preset, " backbone has the paper's R only; \"", spec.filter(),
        "\" is for arcface_torch's backbones (iresnet*, mobilefacenet)"));
  }
  FTL_RETURN_IF_ERROR(Take("model.input_size", spec.has_input_size(), spec.input_size(),
                           kMinInputSize, kMaxInputSize, &m.input_size));
  FTL_RETURN_IF_ERROR(
      Take("model.channels", spec.has_channels(), spec.channels(), 1, 3, &m.channels));
  if (m.channels == 2) return absl::InvalidArgumentError("model.channels: must be 1 or 3, got 2");
  FTL_RETURN_IF_ERROR(Take("model.feature_dim", spec.has_feature_dim(), spec.feature_dim(),
                           kMinFeatureDim, kMaxFeatureDim, &m.feature_dim));
  if (m.from_arcface_torch()) {
    // Four stride-2 stages, then a layer over the whole map (7x7 at 112): an IResNet's linear
    // layer, the MobileFaceNet's global depthwise convolution.
    if (m.input_size % 16 != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("model.input_size: ", config->preset,
                       " needs a multiple of 16 (arcface_torch: 112), got ", m.input_size));
    }
    return absl::OkStatus();
  }
  // Each stride-2 stage must leave at least a 2x2 map.
  if ((m.input_size >> m.encoder_widths.size()) < 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("model.input_size: ", m.input_size, " is too small for the ",
                     m.encoder_widths.size(), " stride-2 stages of preset '", config->preset, "'"));
  }
  return absl::OkStatus();
}

absl::Status FillData(const v1::DataSpec& spec, DataConfig* d) {
  if (!spec.format().empty()) d->format = spec.format();
  if (d->format != "image_folder" && d->format != "idx" && d->format != "recordio") {
    return absl::InvalidArgumentError(absl::StrCat(
        "data.format: must be \"image_folder\", \"idx\" or \"recordio\", got \"", d->format, "\""));
  }
  d->path = spec.path();
  d->labels_path = spec.labels_path();
  d->yaw_csv = spec.yaw_csv();
  if (d->format == "image_folder") {
    FTL_RETURN_IF_ERROR(CheckExists("data.path", d->path, /*want_directory=*/true));
  } else if (d->format == "idx") {
    FTL_RETURN_IF_ERROR(CheckExists("data.path", d->path, /*want_directory=*/false));
    FTL_RETURN_IF_ERROR(CheckExists("data.labels_path", d->labels_path, false));
  } else {  // recordio: labels_path is the .idx, by default beside the .rec
    FTL_RETURN_IF_ERROR(CheckExists("data.path", d->path, /*want_directory=*/false));
    if (!d->labels_path.empty())
      FTL_RETURN_IF_ERROR(CheckExists("data.labels_path", d->labels_path, false));
  }
  if (!d->yaw_csv.empty()) FTL_RETURN_IF_ERROR(CheckExists("data.yaw_csv", d->yaw_csv, false));
  d->manifest = spec.manifest();
  if (!d->manifest.empty()) FTL_RETURN_IF_ERROR(CheckExists("data.manifest", d->manifest, false));
  d->regular_identities = spec.regular_identities();
  if (!d->regular_identities.empty()) {
    FTL_RETURN_IF_ERROR(CheckExists("data.regular_identities", d->regular_identities, false));
  }
  FTL_RETURN_IF_ERROR(
      Take("data.yaw_tau", spec.has_yaw_tau(), spec.yaw_tau(), 0.0, 360.0, &d->yaw_tau));
  FTL_RETURN_IF_ERROR(Take("data.ur_max_images", spec.has_ur_max_images(), spec.ur_max_images(), 0,
                           1000000, &d->ur_max_images));
  FTL_RETURN_IF_ERROR(Take("data.cut_classes", spec.has_cut_classes(), spec.cut_classes(), 0,
                           100000000, &d->cut_classes));
  FTL_RETURN_IF_ERROR(Take("data.cut_to_images", spec.has_cut_to_images(), spec.cut_to_images(), 0,
                           1000000, &d->cut_to_images));
  if (d->cut_classes > 0 && d->cut_to_images < 1) {
    return absl::InvalidArgumentError(
        "data.cut_to_images: must be at least 1 when data.cut_classes is set");
  }
  FTL_RETURN_IF_ERROR(Take("data.max_classes", spec.has_max_classes(), spec.max_classes(), 0,
                           100000000, &d->max_classes));
  FTL_RETURN_IF_ERROR(Take("data.center_crop", spec.has_center_crop(), spec.center_crop(), 0.05,
                           1.0, &d->center_crop));
  FTL_RETURN_IF_ERROR(Take("data.max_images", spec.has_max_images(), spec.max_images(), 0,
                           2000000000, &d->max_images));
  d->streaming = spec.has_streaming() && spec.streaming();
  if (d->streaming && d->format == "idx") {
    return absl::InvalidArgumentError(
        "data.streaming: IDX files are read into memory (they are small); streaming is for "
        "image_folder and recordio");
  }
  d->loader_threads = d->streaming ? 2 : 0;
  FTL_RETURN_IF_ERROR(Take("data.loader_threads", spec.has_loader_threads(), spec.loader_threads(),
                           0, 64, &d->loader_threads));
  FTL_RETURN_IF_ERROR(Take("data.prefetch_batches", spec.has_prefetch_batches(),
                           spec.prefetch_batches(), 1, 256, &d->prefetch_batches));
  if (spec.has_random_flip()) d->random_flip = spec.random_flip();
  FTL_RETURN_IF_ERROR(Take("data.random_crop_pixels", spec.has_random_crop_pixels(),
                           spec.random_crop_pixels(), 0, 64, &d->random_crop_pixels));
  return absl::OkStatus();
}

absl::Status FillTraining(const v1::TrainingSpec& spec, TrainingConfig* t) {
  const std::string& method = spec.method();
  if (method.empty() || method == "ftl") {
    t->method = Method::kFtl;
  } else if (method == "softmax") {
    t->method = Method::kSoftmax;
  } else if (method == "softmax_ml2") {
    t->method = Method::kSoftmaxMl2;
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "training.method: must be \"ftl\", \"softmax\" or \"softmax_ml2\", got \"", method, "\""));
  }
  FTL_RETURN_IF_ERROR(Take("training.batch_size", spec.has_batch_size(), spec.batch_size(), 1,
                           65536, &t->batch_size));
  FTL_RETURN_IF_ERROR(Take<int64_t>("training.pretrain_iterations", spec.has_pretrain_iterations(),
                                    spec.pretrain_iterations(), 0, int64_t{1} << 40,
                                    &t->pretrain_iterations));
  FTL_RETURN_IF_ERROR(
      Take("training.rounds", spec.has_rounds(), spec.rounds(), 0, 1000000, &t->rounds));
  FTL_RETURN_IF_ERROR(Take<int64_t>("training.stage_iterations", spec.has_stage_iterations(),
                                    spec.stage_iterations(), 1, int64_t{1} << 40,
                                    &t->stage_iterations));
  FTL_RETURN_IF_ERROR(Take("training.pretrain_lr", spec.has_pretrain_lr(), spec.pretrain_lr(), 1e-9,
                           10.0, &t->pretrain_lr));
  FTL_RETURN_IF_ERROR(Take("training.stage1_lr", spec.has_stage1_lr(), spec.stage1_lr(), 1e-9, 10.0,
                           &t->stage1_lr));
  FTL_RETURN_IF_ERROR(Take("training.stage2_lr", spec.has_stage2_lr(), spec.stage2_lr(), 1e-9, 10.0,
                           &t->stage2_lr));
  if (spec.has_seed()) t->seed = spec.seed();
  FTL_RETURN_IF_ERROR(Take("training.pca_components", spec.has_pca_components(),
                           spec.pca_components(), 0, 65536, &t->pca_components));
  FTL_RETURN_IF_ERROR(Take("training.pca_energy", spec.has_pca_energy(), spec.pca_energy(), 0.01,
                           1.0, &t->pca_energy));
  FTL_RETURN_IF_ERROR(Take("training.checkpoint_every_rounds", spec.has_checkpoint_every_rounds(),
                           spec.checkpoint_every_rounds(), 0, 1000000,
                           &t->checkpoint_every_rounds));
  FTL_RETURN_IF_ERROR(Take("training.evaluate_every_rounds", spec.has_evaluate_every_rounds(),
                           spec.evaluate_every_rounds(), 0, 1000000, &t->evaluate_every_rounds));
  if (spec.pretrain_sampling().empty() || spec.pretrain_sampling() == "instance") {
    t->pretrain_sampling = Sampling::kInstance;
  } else if (spec.pretrain_sampling() == "class_balanced") {
    t->pretrain_sampling = Sampling::kClassBalanced;
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "training.pretrain_sampling: must be \"instance\" or \"class_balanced\", got \"",
        spec.pretrain_sampling(), "\""));
  }
  if (!spec.stage1_third_batch().empty()) {
    FTL_ASSIGN_OR_RETURN(t->stage1_third_batch, ParseThirdBatch(spec.stage1_third_batch()));
    if (spec.has_stage1_transfer() &&
        spec.stage1_transfer() != (t->stage1_third_batch == ThirdBatch::kTransfer)) {
      return absl::InvalidArgumentError(
          absl::StrCat("training.stage1_transfer: ", spec.stage1_transfer() ? "true" : "false",
                       " contradicts training.stage1_third_batch \"", spec.stage1_third_batch(),
                       "\" (give only stage1_third_batch)"));
    }
  } else if (spec.has_stage1_transfer() && !spec.stage1_transfer()) {
    t->stage1_third_batch = ThirdBatch::kNone;
  }
  FTL_RETURN_IF_ERROR(FillOptimizer("pretrain_optimizer", spec.optimizer(),
                                    spec.pretrain_optimizer(), &t->pretrain_optimizer));
  FTL_RETURN_IF_ERROR(FillOptimizer("stage1_optimizer", spec.optimizer(), spec.stage1_optimizer(),
                                    &t->stage1_optimizer));
  FTL_RETURN_IF_ERROR(FillOptimizer("stage2_optimizer", spec.optimizer(), spec.stage2_optimizer(),
                                    &t->stage2_optimizer));
  // Read (and checked) by the worker when it starts without --resume; `ftl eval` on such a
  // config must not need it.
  t->init_checkpoint = spec.init_checkpoint();
  if (t->method == Method::kFtl && t->pretrain_iterations == 0 && t->rounds == 0) {
    return absl::InvalidArgumentError(
        "training.rounds: the job would train nothing (pretrain_iterations and rounds are 0)");
  }
  if (t->method != Method::kFtl && t->pretrain_iterations == 0) {
    return absl::InvalidArgumentError(
        "training.pretrain_iterations: must be at least 1 for a baseline method");
  }
  return absl::OkStatus();
}

absl::Status FillRuntime(const v1::RuntimeSpec& spec, RuntimeConfig* r) {
  if (!spec.output_dir().empty()) r->output_dir = spec.output_dir();  // else DefaultOutputDir
  FTL_RETURN_IF_ERROR(Take("runtime.threads_per_rank", spec.has_threads_per_rank(),
                           spec.threads_per_rank(), 0, 1024, &r->threads_per_rank));
  FTL_RETURN_IF_ERROR(Take("runtime.progress_seconds", spec.has_progress_seconds(),
                           spec.progress_seconds(), 0.0, 86400.0, &r->progress_seconds));
  FTL_RETURN_IF_ERROR(Take("runtime.bucket_mb", spec.has_bucket_mb(), spec.bucket_mb(), 0.001,
                           4096.0, &r->bucket_mb));
  FTL_RETURN_IF_ERROR(Take("runtime.keep_checkpoints", spec.has_keep_checkpoints(),
                           spec.keep_checkpoints(), 1, 1000, &r->keep_checkpoints));
  FTL_RETURN_IF_ERROR(Take("runtime.ranks", spec.has_ranks(), spec.ranks(), 1, 4096, &r->ranks));
  FTL_RETURN_IF_ERROR(Take("runtime.max_restarts", spec.has_max_restarts(), spec.max_restarts(), 0,
                           1000, &r->max_restarts));
  if (!spec.device().empty()) {
    if (spec.device() != "auto" && spec.device() != "cpu" && spec.device() != "cuda") {
      return absl::InvalidArgumentError(
          absl::StrCat("runtime.device: must be auto, cpu or cuda, not '", spec.device(), "'"));
    }
    r->device = spec.device();
  }
  if (spec.has_bf16_autocast()) r->bf16_autocast = spec.bf16_autocast();
  FTL_RETURN_IF_ERROR(Take("runtime.collective_timeout_seconds",
                           spec.has_collective_timeout_seconds(), spec.collective_timeout_seconds(),
                           0.0, 1e7, &r->collective_timeout_seconds));
  if (spec.has_overlap_allreduce()) r->overlap_allreduce = spec.overlap_allreduce();
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckJobName(const std::string& name) {
  // PrintableText escapes exactly the C0, DEL and C1 controls: a name it changes holds one.
  const std::string printable = PrintableText(name);
  if (printable != name) {
    return absl::InvalidArgumentError(
        absl::StrCat("name: must not contain control characters (escaped: \"", printable, "\")"));
  }
  return absl::OkStatus();
}

absl::StatusOr<JobConfig> JobConfigFromSpec(const v1::JobSpec& spec) {
  JobConfig config;
  if (!spec.name().empty()) config.name = spec.name();
  if (!spec.has_data()) return absl::InvalidArgumentError("data: is required");
  FTL_RETURN_IF_ERROR(FillModel(spec.model(), &config));
  config.init_from = spec.model().init_from();
  FTL_RETURN_IF_ERROR(ParseChoice<ClassifierSharding>(
      "model.classifier_sharding", spec.model().classifier_sharding(),
      {{"replicated", ClassifierSharding::kReplicated}, {"sharded", ClassifierSharding::kSharded}},
      &config.classifier_sharding));
  if (!config.init_from.empty() && !spec.training().init_checkpoint().empty()) {
    return absl::InvalidArgumentError(
        "model.init_from: give it or training.init_checkpoint, not both (init_checkpoint continues "
        "this job's model; init_from fine-tunes another's on this job's identities)");
  }
  FTL_RETURN_IF_ERROR(FillData(spec.data(), &config.data));
  if (config.data.random_crop_pixels * 4 > config.model.input_size) {
    return absl::InvalidArgumentError(absl::StrCat(
        "data.random_crop_pixels: ", config.data.random_crop_pixels,
        " is more than a quarter of model.input_size ", config.model.input_size,
        " (a crop would lose too much of the face; arcface_torch uses none, 2-8 at 112 is usual)"));
  }
  const v1::LossSpec& loss = spec.loss();
  FTL_RETURN_IF_ERROR(Take("loss.alpha_sfmx", loss.has_alpha_sfmx(), loss.alpha_sfmx(), 0.0, 1e6,
                           &config.loss.sfmx));
  FTL_RETURN_IF_ERROR(Take("loss.alpha_recon", loss.has_alpha_recon(), loss.alpha_recon(), 0.0, 1e6,
                           &config.loss.recon));
  FTL_RETURN_IF_ERROR(
      Take("loss.alpha_reg", loss.has_alpha_reg(), loss.alpha_reg(), 0.0, 1e6, &config.loss.reg));
  FTL_RETURN_IF_ERROR(
      ParseReduction("loss.ml2_reduction", loss.ml2_reduction(), &config.loss.ml2_reduction));
  FTL_RETURN_IF_ERROR(
      ParseReduction("loss.recon_reduction", loss.recon_reduction(), &config.loss.recon_reduction));
  FTL_RETURN_IF_ERROR(Take("loss.logit_adjust_tau", loss.has_logit_adjust_tau(),
                           loss.logit_adjust_tau(), 0.0, 100.0, &config.loss.logit_adjust_tau));
  FTL_RETURN_IF_ERROR(Take("loss.class_balanced_beta", loss.has_class_balanced_beta(),
                           loss.class_balanced_beta(), 0.0, 0.999999999,
                           &config.loss.class_balanced_beta));
  FTL_RETURN_IF_ERROR(FillHead(loss, &config.loss.head));
  if (!config.model.has_decoder()) {
    if (loss.has_alpha_recon() && loss.alpha_recon() != 0.0) {
      return absl::InvalidArgumentError(
          absl::StrCat("loss.alpha_recon: must be 0 with model.backbone ", config.preset,
                       " (it has no decoder, so there is nothing to reconstruct with)"));
    }
    config.loss.recon = 0.0;
  }
  FTL_RETURN_IF_ERROR(FillTraining(spec.training(), &config.training));
  // The plain-softmax baseline is defined by the absence of m-L2.
  if (config.training.method == Method::kSoftmax) config.loss.reg = 0.0;
  if (config.loss.head.kind != HeadKind::kSoftmax) {
    // m-L2 pulls logits towards 0; a margin head's logits are s cos(theta), bounded already.
    if (config.training.method == Method::kSoftmaxMl2) {
      return absl::InvalidArgumentError(
          absl::StrCat("training.method: softmax_ml2 needs loss.head softmax (a ",
                       HeadName(config.loss.head.kind),
                       " head has no m-L2); use method softmax for the margin-head baseline"));
    }
    if (loss.has_alpha_reg() && loss.alpha_reg() != 0.0) {
      return absl::InvalidArgumentError(
          absl::StrCat("loss.alpha_reg: must be 0 with loss.head ", HeadName(config.loss.head.kind),
                       " (m-L2 applies to the softmax head's free logits)"));
    }
    config.loss.reg = 0.0;
  }
  config.runtime.output_dir = DefaultOutputDir(config.name);
  FTL_RETURN_IF_ERROR(FillRuntime(spec.runtime(), &config.runtime));
  const v1::EvaluationSpec& e = spec.evaluation();
  config.evaluation = {e.pairs_path(),
                       e.pairs_images(),
                       e.holdout_path(),
                       e.holdout_manifest(),
                       {e.bin_sets().begin(), e.bin_sets().end()}};
  FTL_RETURN_IF_ERROR(Take("evaluation.train_top1_max_images", e.has_train_top1_max_images(),
                           e.train_top1_max_images(), int64_t{0}, int64_t{1} << 40,
                           &config.evaluation.train_top1_max_images));
  if (e.bin_sets_size() > 8) {
    return absl::InvalidArgumentError(
        absl::StrCat("evaluation.bin_sets: at most 8 sets, got ", e.bin_sets_size()));
  }
  std::set<std::string> stems;
  for (const std::string& bin : e.bin_sets()) {
    FTL_RETURN_IF_ERROR(CheckExists("evaluation.bin_sets", bin, false));
    // Sets are reported by file stem (bin_lfw_acc_f): two lfw.bin would overwrite each other.
    if (!stems.insert(fs::path(bin).stem().string()).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("evaluation.bin_sets: two sets named '", fs::path(bin).stem().string(),
                       "' (sets are reported by file name; rename one)"));
    }
  }
  if (!e.pairs_path().empty() || !e.pairs_images().empty()) {
    FTL_RETURN_IF_ERROR(CheckExists("evaluation.pairs_path", e.pairs_path(), false));
  }
  if (!e.pairs_images().empty()) {
    FTL_RETURN_IF_ERROR(CheckExists("evaluation.pairs_images", e.pairs_images(), true));
  }
  if (!e.holdout_path().empty()) {
    FTL_RETURN_IF_ERROR(CheckExists("evaluation.holdout_path", e.holdout_path(), true));
  }
  if (!e.holdout_manifest().empty()) {
    FTL_RETURN_IF_ERROR(CheckExists("evaluation.holdout_manifest", e.holdout_manifest(), false));
  }
  return config;
}

namespace {

size_t EditDistance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// Every field name of `message` and the messages under it ("data", "path", "stage1_lr", ...).
void CollectFieldNames(const google::protobuf::Descriptor* message, std::set<std::string>* names,
                       std::set<const google::protobuf::Descriptor*>* seen) {
  if (!seen->insert(message).second) return;
  for (int i = 0; i < message->field_count(); ++i) {
    const google::protobuf::FieldDescriptor* field = message->field(i);
    names->insert(field->name());
    if (field->message_type() != nullptr) CollectFieldNames(field->message_type(), names, seen);
  }
}

// For protobuf's "(parent) NAME: Cannot find field.": the known field name nearest NAME, within a
// third of its length in edits ("" when none is that near).
std::string NearestFieldName(const std::string& error) {
  const size_t colon = error.find(": Cannot find field");
  if (colon == std::string::npos) return "";
  std::string unknown = error.substr(0, colon);
  if (const size_t cut = unknown.find_last_of(" ).("); cut != std::string::npos)
    unknown.erase(0, cut + 1);
  std::set<std::string> names;
  std::set<const google::protobuf::Descriptor*> seen;
  CollectFieldNames(v1::JobSpec::descriptor(), &names, &seen);
  std::string best;
  size_t best_distance = std::max<size_t>(1, unknown.size() / 3) + 1;
  for (const std::string& name : names) {
    const size_t d = EditDistance(unknown, name);
    if (d < best_distance) best = name, best_distance = d;
  }
  return best;
}

}  // namespace

absl::StatusOr<v1::JobSpec> JobSpecFromJson(const std::string& json) {
  v1::JobSpec spec;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  const auto status = google::protobuf::util::JsonStringToMessage(json, &spec, options);
  if (!status.ok()) {
    const std::string message(status.message());
    const std::string nearest = NearestFieldName(message);
    return absl::InvalidArgumentError(
        absl::StrCat("config is not a valid JobSpec: ", message,
                     nearest.empty() ? "" : absl::StrCat(" Did you mean '", nearest, "'?")));
  }
  return spec;
}

absl::StatusOr<JobConfig> LoadJobConfigFile(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFileToString(path);
  if (!text.ok()) return absl::NotFoundError(absl::StrCat("cannot open config file '", path, "'"));
  absl::StatusOr<v1::JobSpec> spec = JobSpecFromJson(*text);
  if (!spec.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", spec.status().message()));
  }
  absl::StatusOr<JobConfig> config = JobConfigFromSpec(*spec);
  if (!config.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", config.status().message()));
  }
  return config;
}

}  // namespace ftl
