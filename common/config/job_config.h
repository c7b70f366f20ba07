// JobConfig: the validated, defaulted job description the core libraries take, as plain structs.
//
// Nothing here knows the wire format: a ftl.v1.JobSpec (JSON or gRPC) becomes a JobConfig only
// through common/config/job_spec_conversion.h, which fills defaults and range-checks every field.
#ifndef FTL_COMMON_CONFIG_JOB_CONFIG_H_
#define FTL_COMMON_CONFIG_JOB_CONFIG_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace ftl {

// Layer sizes of Enc/Dec/R. Built from a preset name plus overrides.
struct ModelShape {
  int input_size = 64;
  int channels = 1;
  int feature_dim = 128;
  std::vector<int> encoder_widths;  // one entry per stride-2 stage
  int convs_per_stage = 1;          // stride-1 convolutions before each stride-2 one
  int filter_width = 64;            // channels of R's 4x4 deconvolution grid
};

// Compares layer sizes (a trained model can start this job's only when they are equal).
inline bool SameLayers(const ModelShape& a, const ModelShape& b) {
  return a.input_size == b.input_size && a.channels == b.channels &&
         a.feature_dim == b.feature_dim && a.encoder_widths == b.encoder_widths &&
         a.convs_per_stage == b.convs_per_stage && a.filter_width == b.filter_width;
}

// Returns the shape of a named preset ("small" or "paper"), or InvalidArgument.
absl::StatusOr<ModelShape> ModelPreset(const std::string& name);

enum class Method { kFtl, kSoftmax, kSoftmaxMl2 };
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
};

// How a loss term's elements are reduced to one number per batch.
enum class Reduction { kMean, kSum };

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
};

enum class Sampling { kInstance, kClassBalanced };

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
  bool stage1_transfer = true;  // false: stage 1 without the transferred batch (ablation)
  std::string init_checkpoint;  // start from this checkpoint's model weights; "" = random init
};

struct RuntimeConfig {
  std::string output_dir = "ftl-output";
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
  std::vector<std::string> bin_sets;  // InsightFace .bin verification sets
};

struct JobConfig {
  std::string name = "ftl-job";
  std::string preset = "small";
  ModelShape model;
  std::string init_from;  // model.init_from: fine-tune from this model's Enc, Dec, R
  DataConfig data;
  LossWeights loss;
  TrainingConfig training;
  RuntimeConfig runtime;
  EvaluationConfig evaluation;
};

}  // namespace ftl

#endif  // FTL_COMMON_CONFIG_JOB_CONFIG_H_
