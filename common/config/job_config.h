// JobConfig: the validated, defaulted job description the core libraries take, as plain structs.
//
// Nothing here knows the wire format: a ftl.v1.JobSpec (JSON or gRPC) becomes a JobConfig only
// through common/config/job_spec_conversion.h, which fills defaults and range-checks every field.
#ifndef FTL_COMMON_CONFIG_JOB_CONFIG_H_
#define FTL_COMMON_CONFIG_JOB_CONFIG_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace ftl {

// What Enc is: the paper's encoder (with a decoder Dec), or one of arcface_torch's backbones, an
// IResNet or the MobileFaceNet ("mbf"), whose embedding is g (no decoder: no reconstruction term,
// no decoded pictures).
enum class BackboneKind { kFtlEncoder, kIResNet, kMobileFaceNet };
// What R is: the paper's (linear, deconvolutions, convolutions, linear), the identity (f = g), or
// a small MLP (linear, PReLU, linear).
enum class FilterKind { kPaper, kIdentity, kMlp };

// Layer sizes of Enc/Dec/R. Built from a preset (model.backbone) name plus overrides.
struct ModelShape {
  BackboneKind backbone = BackboneKind::kFtlEncoder;
  FilterKind filter = FilterKind::kPaper;
  int input_size = 64;
  int channels = 1;
  int feature_dim = 128;
  std::vector<int> encoder_widths;  // kFtlEncoder: one entry per stride-2 stage
  int convs_per_stage = 1;          // stride-1 convolutions before each stride-2 one
  int filter_width = 64;            // channels of R's 4x4 deconvolution grid
  // kIResNet: IBasicBlocks in each of its 4 stages; kMobileFaceNet: get_mbf's `blocks` (the first
  // 1: a grouped ConvBlock after the stem; then DepthWise blocks in the 3 Residual stages).
  std::vector<int> blocks;
  int width_scale = 1;  // kMobileFaceNet: channel multiplier (get_mbf's `scale`: 2)

  bool has_decoder() const { return backbone == BackboneKind::kFtlEncoder; }
  // arcface_torch's layouts (an IResNet or the MobileFaceNet): R an MLP or the identity, the input
  // side a multiple of 16 (four stride-2 steps), batch norm, no decoder.
  bool from_arcface_torch() const {
    return backbone == BackboneKind::kIResNet || backbone == BackboneKind::kMobileFaceNet;
  }
};

// Compares layer sizes (a trained model can start this job's only when they are equal).
inline bool SameLayers(const ModelShape& a, const ModelShape& b) {
  return a.backbone == b.backbone && a.filter == b.filter && a.input_size == b.input_size &&
         a.channels == b.channels && a.feature_dim == b.feature_dim &&
         a.encoder_widths == b.encoder_widths && a.convs_per_stage == b.convs_per_stage &&
         a.filter_width == b.filter_width && a.blocks == b.blocks && a.width_scale == b.width_scale;
}

const char* FilterName(FilterKind kind);  // "paper", "identity", "mlp"

// The model.backbone names ModelPreset knows, in order.
const std::vector<std::string>& BackboneNames();

// Returns the shape of a named preset: "small" or "paper" (the paper's encoder/decoder), or
// "iresnet18", "iresnet34", "iresnet50", "iresnet100", "mobilefacenet" (arcface_torch's layouts:
// 112x112 colour, a 512-d embedding, R an MLP); InvalidArgument otherwise.
absl::StatusOr<ModelShape> ModelPreset(const std::string& name);

// The ranges model.input_size and model.feature_dim accept; readers of model files hold them to
// the same (a crafted file must not make a reader build a model of any size).
inline constexpr int kMinInputSize = 16;
inline constexpr int kMaxInputSize = 512;
inline constexpr int kMinFeatureDim = 2;
inline constexpr int kMaxFeatureDim = 4096;
// Whether a file's stated D, input side and channels are ones a job could have trained.
inline bool PlausibleModelSize(int64_t feature_dim, int64_t input_size, int64_t channels) {
  return feature_dim >= kMinFeatureDim && feature_dim <= kMaxFeatureDim &&
         input_size >= kMinInputSize && input_size <= kMaxInputSize &&
         (channels == 1 || channels == 3);
}

// A network's name in checkpoints and exports: "<model.backbone>:<filter>" ("iresnet18:mlp").
std::string NetworkName(const std::string& preset, const ModelShape& shape);
// The preset and shape a network name says, with the given D, input side and channels (what a
// job may change of a preset); InvalidArgument for a name this build does not know.
absl::StatusOr<std::pair<std::string, ModelShape>> NetworkShape(const std::string& network,
                                                                int feature_dim, int input_size,
                                                                int channels);

enum class Method { kFtl, kSoftmax, kSoftmaxMl2 };
// Stage 1's third batch (training.stage1_third_batch): Eq. 7's transfer or a control for it.
enum class ThirdBatch { kTransfer, kNone, kUr, kCenter, kCenterNoise, kRandomBasis };
const char* ThirdBatchName(ThirdBatch kind);  // "transfer", "none", "ur", ...
// The kind a name gives; InvalidArgument naming the choices otherwise.
absl::StatusOr<ThirdBatch> ParseThirdBatch(const std::string& name);
const char* MethodName(Method method);

struct DataConfig {
  std::string format = "image_folder";  // "image_folder" | "idx"
  std::string path;
  std::string labels_path;
  std::string yaw_csv;
  double yaw_tau = 60.0;
  int ur_max_images = 20;
  int cut_classes = 0;
  int cut_to_images = 0;
  int max_classes = 0;
  double center_crop = 1.0;
  int max_images = 0;
  std::string manifest;  // optional: train on just these samples (see ReadManifest)
  // Optional: a class is regular iff its identity is listed (one per line); overrides
  // ur_max_images. `ftl split` writes one.
  std::string regular_identities;
  // Read each batch's images from the source when drawn instead of decoding all up front (for
  // sets larger than memory; image_folder and recordio).
  bool streaming = false;
  // Background threads reading (and decoding, when streaming) upcoming batches; 0 = none, the
  // batch is gathered when needed. A job spec without it gets 2 when streaming.
  int loader_threads = 0;
  int prefetch_batches = 4;  // batches read ahead per sampler when loader_threads > 0
  // Mirror each training image with probability 1/2, decided by (seed, stream, step, position in
  // the global batch): the same under streaming and in memory, whatever the number of ranks.
  bool random_flip = false;
  int random_crop_pixels = 0;  // random crops: shifts up to this many pixels each way; 0 off
};

// How a loss term's elements are reduced to one number per batch.
enum class Reduction { kMean, kSum };

// The classifier head on f (loss.head). kSoftmax: logits W f (the paper's FC, with m-L2). The
// margin heads classify cos(theta_j) between the normalised f and W_j, scaled by s, with the target
// class's logit replaced by cos(m1 theta + m2) - m3 (arcface_torch's CombinedMarginLoss):
// CosFace is (1, 0, m3), ArcFace (1, m2, 0).
enum class HeadKind { kSoftmax, kCosFace, kArcFace, kCombined };
const char* HeadName(HeadKind kind);

struct HeadConfig {
  HeadKind kind = HeadKind::kSoftmax;
  double scale = 64.0;  // s
  double m1 = 1.0;      // multiplicative angular margin
  double m2 = 0.0;      // additive angular margin (ArcFace)
  double m3 = 0.0;      // additive cosine margin (CosFace)
  // ArcFace only: where theta + m2 would pass pi, arcface_torch keeps cos(theta) - sin(pi - m2) m2
  // (monotone in theta); easy_margin instead keeps cos(theta) wherever cos(theta) <= 0.
  bool easy_margin = false;
};

struct LossWeights {
  double sfmx = 1.0;
  double recon = 1.0;
  double reg = 0.25;
  // m-L2: mean over batch x classes, or sum over the classes and mean over the batch (the same
  // alpha_reg then pulls each logit N_c times harder; docs/config.md).
  Reduction ml2_reduction = Reduction::kMean;
  // Reconstruction: mean over pixels and batch, or sum over an image's pixels, mean over the batch.
  Reduction recon_reduction = Reduction::kMean;
  // Logit adjustment's tau (0 = plain softmax; 1 = Balanced Softmax).
  double logit_adjust_tau = 0.0;
  // Class-balanced loss's beta (Cui et al. 2019; 0 = off): weights (1 - b) / (1 - b^n_y).
  double class_balanced_beta = 0.0;
  HeadConfig head;
};

enum class Sampling { kInstance, kClassBalanced };

enum class OptimizerKind { kAdam, kSgd };
enum class LrSchedule { kConstant, kPoly, kCosine };

// One phase's optimizer (training.optimizer, overridden field by field by
// training.{pretrain,stage1,stage2}_optimizer). The phase's learning rate is
// training.{pretrain,stage1,stage2}_lr.
struct OptimizerConfig {
  OptimizerKind kind = OptimizerKind::kAdam;
  double momentum = 0.9;  // SGD only
  bool nesterov = false;  // SGD only
  double weight_decay = 0.0;
  LrSchedule schedule = LrSchedule::kConstant;
  // Linear warm-up over the phase's first iterations: step t (0-based) runs at lr (t + 1) / W.
  int64_t warmup_iterations = 0;
  double poly_power = 2.0;      // poly: lr (1 - progress)^power after the warm-up
  double clip_grad_norm = 0.0;  // clip the averaged gradients' global L2 norm; 0 = off
};

struct TrainingConfig {
  Method method = Method::kFtl;
  int batch_size = 32;
  int64_t pretrain_iterations = 1000;
  int rounds = 2;
  int64_t stage_iterations = 500;
  double pretrain_lr = 2e-4;
  double stage1_lr = 1e-5;
  double stage2_lr = 1e-5;
  uint64_t seed = 1;
  int pca_components = 0;
  double pca_energy = 0.95;
  int checkpoint_every_rounds = 1;
  int evaluate_every_rounds = 1;
  Sampling pretrain_sampling = Sampling::kInstance;
  // training.stage1_third_batch: what stage 1's third step trains on (job_spec.proto).
  ThirdBatch stage1_third_batch = ThirdBatch::kTransfer;
  std::string init_checkpoint;  // start from this checkpoint's model weights; "" = random init
  OptimizerConfig pretrain_optimizer, stage1_optimizer, stage2_optimizer;
};

// A job's output folder when runtime.output_dir is not given: "ftl-output/<name>", or, for a name
// with characters other than letters, digits, '.', '_' and '-', those made '-' and a hash of the
// name appended ("a b" -> "ftl-output/a-b-1a2b3c4d"): jobs with different names never share a
// folder and prune each other's checkpoints.
std::string DefaultOutputDir(const std::string& job_name);

struct RuntimeConfig {
  std::string output_dir = "ftl-output/ftl-job";  // DefaultOutputDir(name) when not given
  int threads_per_rank = 0;
  double progress_seconds = 5.0;
  double bucket_mb = 25.0;
  int keep_checkpoints = 3;
  int ranks = 2;
  int max_restarts = 2;
  std::string device = "auto";  // auto | cpu | cuda
  bool bf16_autocast = true;    // forward passes in bfloat16 on CUDA; no effect on CPU
  // Start each gradient bucket's all-reduce during backward. Unset: on for CUDA devices, off on
  // CPUs, where both cores are busy with backward and MPI's non-blocking all-reduce measured
  // slower than its blocking one (docs/performance.md).
  std::optional<bool> overlap_allreduce;
  // A collective waiting longer ends the worker (common/comm/watchdog_communicator.h); 0 = never.
  double collective_timeout_seconds = 600.0;
};

struct EvaluationConfig {
  std::string pairs_path;
  std::string pairs_images;
  std::string holdout_path;
  std::string holdout_manifest;
  std::vector<std::string> bin_sets;      // InsightFace .bin verification sets
  int64_t train_top1_max_images = 50000;  // 0 = every training image
};

// Where the classifier's rows live (model.classifier_sharding): the whole N_c x D on every rank,
// its gradient averaged with the network's, or each rank a contiguous range of classes
// (Partial FC; common/classifier/sharded_classifier.h).
enum class ClassifierSharding { kReplicated, kSharded };

struct JobConfig {
  std::string name = "ftl-job";
  std::string preset = "small";
  ModelShape model;
  std::string init_from;  // model.init_from: fine-tune from this model's Enc, Dec, R
  ClassifierSharding classifier_sharding = ClassifierSharding::kReplicated;
  DataConfig data;
  LossWeights loss;
  TrainingConfig training;
  RuntimeConfig runtime;
  EvaluationConfig evaluation;
};

}  // namespace ftl

#endif  // FTL_COMMON_CONFIG_JOB_CONFIG_H_
