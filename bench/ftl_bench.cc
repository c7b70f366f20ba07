// Micro-benchmarks behind bench/run.sh. Each subcommand prints "name: value" lines; run.sh runs
// the pairs side by side and prints the ratios.
//
//   ftl_bench step [--preset small --batch 32 --iterations 30 --classes 100 --threads 1 --overlap
//   1]
//       (also under mpirun -np N): pre-training steps of the real Trainer on synthetic images.
//   ftl_bench update_stats [...]: Trainer::UpdateStats vs the encoder passes it needs (image +
//   flip). ftl_bench loader --data DIR [...]: decode + resize images/s vs the images/s training
//   consumes. ftl_bench streaming --data DIR [--center_crop 0.5 --loader_threads 1 ...]: training
//   steps
//       with images streamed (read + decoded by loader threads as batches are drawn) vs held in
//       memory, the loader's own rate, and the memory each needs.
//   ftl_bench allreduce [--megabytes 25] (under mpirun -np 2): MPI all-reduce vs memcpy bandwidth.
//   ftl_bench growth: cost of the UpdateStats statistics and of the FC step as N_c and N grow.
//   ftl_bench fc [--classes 20000 --batch 256 --dim 512]: the classifier's product (batch x D by
//       D x N_c) and its step (forward, softmax + m-L2, backward, Adam): the BLAS's share.
// Every subcommand first prints which BLAS it loaded (bench/run.sh compares them side by side).
#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_format.h"
#include "common/blas/blas.h"
#include "common/classifier/replicated_classifier.h"
#include "common/classifier/sharded_classifier.h"
#include "common/comm/device_communicator.h"
#include "common/comm/gradient_buckets.h"
#include "common/comm/mpi_communicator.h"
#include "common/config/job_config.h"
#include "common/data/batch_prefetcher.h"
#include "common/data/dataset.h"
#include "common/data/image_folder.h"
#include "common/ftl/class_stats.h"
#include "common/ftl/losses.h"
#include "common/model/autocast.h"
#include "common/train/trainer.h"
#include "tests/test_util.h"

ABSL_FLAG(std::string, preset, "small",
          "model.backbone (small, paper, iresnet18, iresnet34, iresnet50, iresnet100, "
          "mobilefacenet)");
ABSL_FLAG(std::string, head, "softmax", "loss.head (softmax, cosface, arcface)");
ABSL_FLAG(std::string, optimizer, "adam",
          "adam (constant rate), or sgd as arcface_torch (momentum 0.9, weight decay 5e-4, poly "
          "schedule, gradient norm clipped at 5)");
ABSL_FLAG(int, batch, 32, "batch per rank");
ABSL_FLAG(int, iterations, 30, "timed iterations");
ABSL_FLAG(int, warmup, 5, "untimed iterations first");
ABSL_FLAG(int, classes, 100, "synthetic classes (step, update_stats)");
ABSL_FLAG(int, images_per_class, 20, "synthetic images per class");
ABSL_FLAG(int, threads, 1, "intra-op threads per rank");
ABSL_FLAG(int, dim, 512, "feature dimension D (fc)");
ABSL_FLAG(bool, set_blas_threads, true,
          "give OpenBLAS the --threads count (false: its own default, all cores; to measure)");
ABSL_FLAG(bool, overlap, true, "overlap the gradient all-reduce with backward");
ABSL_FLAG(double, bucket_mb, 25.0, "gradient bucket size");
ABSL_FLAG(std::string, sharding, "replicated",
          "classifier_step: replicated (every rank all rows, their gradient averaged) or sharded "
          "(each rank 1/R of the rows, Partial FC)");
ABSL_FLAG(std::string, data, "", "image folder (loader)");
ABSL_FLAG(double, center_crop, 1.0, "centre crop of the source images (streaming; LFW: 0.5)");
ABSL_FLAG(int, loader_threads, 1, "loader threads of the streamed run (streaming)");
ABSL_FLAG(int, rounds, 2, "alternated timed rounds of each side, best kept (streaming)");
ABSL_FLAG(double, megabytes, 25.0, "all-reduce message size");
ABSL_FLAG(std::string, device, "cpu", "cpu or cuda (the GPU bench, bench/gpu/run.sh)");
ABSL_FLAG(bool, bf16, true, "bf16 autocast on CUDA");
ABSL_FLAG(double, peak_tflops, 989.0,
          "peak dense bf16 TFLOP/s of the GPU, for model-FLOP utilisation "
          "(H200 SXM: 989)");

namespace ftl {
namespace {

using Clock = std::chrono::steady_clock;
double Since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

torch::Device g_device = torch::kCPU;

void Synchronize() {
  if (g_device.is_cuda()) torch::cuda::synchronize(g_device.index());
}

// Multiply-adds x 2 of R (an MLP or the identity) and FC on one image's feature.
double FilterAndClassifierFlops(const ModelShape& m, int64_t classes) {
  const double filter = m.filter == FilterKind::kMlp ? 2.0 * 2 * m.feature_dim * m.feature_dim : 0;
  return filter + 2.0 * m.feature_dim * classes;
}

// Multiply-adds x 2 of one image's forward pass through an IResNet, R and FC.
double IResNetForwardFlopsPerImage(const ModelShape& m, int64_t classes) {
  double flops = 0;
  int side = m.input_size;
  flops += 2.0 * m.channels * 64 * 9 * side * side;  // stem
  int in = 64;
  const int widths[4] = {64, 128, 256, 512};
  for (int stage = 0; stage < 4; ++stage) {
    for (int b = 0; b < m.blocks[stage]; ++b) {
      const int out = widths[stage];
      flops += 2.0 * in * out * 9 * side * side;  // conv1 at the block's input size
      const int next = b == 0 ? side / 2 : side;
      flops += 2.0 * out * out * 9 * next * next;         // conv2 (stride 2 in the first block)
      if (b == 0) flops += 2.0 * in * out * next * next;  // the 1x1 shortcut
      side = next;
      in = out;
    }
  }
  flops += 2.0 * 512 * side * side * m.feature_dim;  // fc
  return flops + FilterAndClassifierFlops(m, classes);
}

// Multiply-adds x 2 of one image's forward pass through arcface_torch's MobileFaceNet, R and FC
// (875 M for the backbone at 112x112, D 512: its "0.45G" multiply-adds).
double MobileFaceNetForwardFlopsPerImage(const ModelShape& m, int64_t classes) {
  double flops = 0;
  // A k x k convolution from `in` to `out` channels in `groups` groups, onto a side x side map.
  auto conv = [&flops](int in, int out, int k, int groups, int side) {
    flops += 2.0 * (in / groups) * out * k * k * side * side;
  };
  // A DepthWise block: 1x1 to g channels, 3x3 depthwise (stride), 1x1 to out. Returns the side.
  auto depthwise = [&conv](int in, int out, int g, int stride, int side) {
    conv(in, g, 1, 1, side);
    side /= stride;
    conv(g, g, 3, g, side);
    conv(g, out, 1, 1, side);
    return side;
  };
  const int c64 = 64 * m.width_scale, c128 = 128 * m.width_scale;
  int side = m.input_size / 2;
  conv(m.channels, c64, 3, 1, side);
  if (m.blocks[0] == 1) conv(c64, c64, 3, 64, side);
  for (int b = 0; m.blocks[0] != 1 && b < m.blocks[0]; ++b) depthwise(c64, c64, 128, 1, side);
  side = depthwise(c64, c64, 128, 2, side);
  for (int b = 0; b < m.blocks[1]; ++b) depthwise(c64, c64, 128, 1, side);
  side = depthwise(c64, c128, 256, 2, side);
  for (int b = 0; b < m.blocks[2]; ++b) depthwise(c128, c128, 256, 1, side);
  side = depthwise(c128, c128, 512, 2, side);
  for (int b = 0; b < m.blocks[3]; ++b) depthwise(c128, c128, 256, 1, side);
  conv(c128, 512, 1, 1, side);   // conv_sep
  conv(512, 512, side, 512, 1);  // GDC: depthwise over the whole map
  flops += 2.0 * 512 * m.feature_dim;
  return flops + FilterAndClassifierFlops(m, classes);
}

// Multiply-adds x 2 of one image's forward pass through Enc, R, FC and Dec (convolutions and
// linear layers; normalisation and activations are left out).
double ForwardFlopsPerImage(const ModelShape& m, int64_t classes) {
  if (m.backbone == BackboneKind::kIResNet) return IResNetForwardFlopsPerImage(m, classes);
  if (m.backbone == BackboneKind::kMobileFaceNet) {
    return MobileFaceNetForwardFlopsPerImage(m, classes);
  }
  const std::vector<int> sizes = EncoderMapSizes(m);
  double flops = 0;
  int in = m.channels;
  for (size_t stage = 0; stage < m.encoder_widths.size(); ++stage) {
    const int w = m.encoder_widths[stage];
    for (int i = 0; i < m.convs_per_stage; ++i, in = w)
      flops += 2.0 * in * w * 9 * sizes[stage] * sizes[stage];
    flops += 2.0 * in * w * 9 * sizes[stage + 1] * sizes[stage + 1];
    in = w;
  }
  flops += 2.0 * in * m.feature_dim * 9 * sizes.back() * sizes.back();  // Enc's last conv
  const int wl = m.encoder_widths.back();
  flops += 2.0 * m.feature_dim * wl * sizes.back() * sizes.back();  // Dec's projection
  for (size_t stage = m.encoder_widths.size(); stage-- > 0;) {
    const int out = stage > 0 ? m.encoder_widths[stage - 1] : m.encoder_widths.front();
    flops += 2.0 * m.encoder_widths[stage] * out * 9 * sizes[stage + 1] * sizes[stage + 1];
  }
  flops += 2.0 * m.encoder_widths.front() * m.channels * 9 * m.input_size * m.input_size;
  const double f = m.filter_width;
  flops += 2.0 * m.feature_dim * f * 16 + 2.0 * f * (f / 2) * 9 * 16 +
           2.0 * (f / 2) * (f / 4) * 9 * 64 + 2.0 * (f / 4) * (f / 2) * 9 * 64 +
           2.0 * (f / 2) * f * 9 * 16 + 2.0 * f * 16 * m.feature_dim;
  flops += 2.0 * m.feature_dim * classes;
  return flops;
}

void Print(const std::string& name, double value) {
  std::cout << name << ": " << absl::StrFormat("%.6g", value) << std::endl;
}

// Counts as integers: run.sh compares them with the references' as strings.
void PrintCount(const std::string& name, int64_t value) {
  std::cout << name << ": " << value << std::endl;
}

JobConfig BenchConfig() {
  JobConfig config;
  config.preset = absl::GetFlag(FLAGS_preset);
  absl::StatusOr<ModelShape> shape = ModelPreset(config.preset);
  if (!shape.ok()) {
    std::cerr << shape.status().message() << "\n";
    std::exit(2);
  }
  config.model = *shape;
  config.training.batch_size = absl::GetFlag(FLAGS_batch);
  config.training.seed = 1;
  config.runtime.bucket_mb = absl::GetFlag(FLAGS_bucket_mb);
  config.runtime.overlap_allreduce = absl::GetFlag(FLAGS_overlap);
  config.runtime.bf16_autocast = absl::GetFlag(FLAGS_bf16);
  config.data.ur_max_images = 5;
  if (!config.model.has_decoder()) config.loss.recon = 0;
  const std::string head = absl::GetFlag(FLAGS_head);
  if (head == "arcface") {
    config.loss.head.kind = HeadKind::kArcFace;
    config.loss.head.m2 = 0.5;
  } else if (head == "cosface") {
    config.loss.head.kind = HeadKind::kCosFace;
    config.loss.head.m3 = 0.4;
  } else if (head != "softmax") {
    std::cerr << "--head: softmax, cosface or arcface\n";
    std::exit(2);
  }
  if (head != "softmax") config.loss.reg = 0;
  if (absl::GetFlag(FLAGS_optimizer) == "sgd") {
    OptimizerConfig& o = config.training.pretrain_optimizer;
    o.kind = OptimizerKind::kSgd;
    o.weight_decay = 5e-4;
    o.schedule = LrSchedule::kPoly;
    o.clip_grad_norm = 5;
    config.training.pretrain_lr = 0.1;
    config.training.pretrain_iterations = 1000;
  }
  return config;
}

Dataset BenchData(const JobConfig& config) {
  std::vector<int> counts(absl::GetFlag(FLAGS_classes), absl::GetFlag(FLAGS_images_per_class));
  return testing::SyntheticDataset(counts, config.model.input_size, config.model.channels);
}

// Pre-training iterations/s of the Trainer (forward Enc/R/FC/Dec, the three losses, backward,
// gradient averaging, Adam).
int Step(Communicator& comm) {
  const JobConfig config = BenchConfig();
  const Dataset data = BenchData(config);
  Trainer trainer(config, data, comm, g_device);
  trainer.Pretrain(absl::GetFlag(FLAGS_warmup));
  const AllReduceStats before = trainer.allreduce_stats();
  Synchronize();
  comm.Barrier();
  const auto start = Clock::now();
  const int iterations = absl::GetFlag(FLAGS_iterations);
  trainer.Pretrain(iterations);
  Synchronize();
  comm.Barrier();
  const double seconds = Since(start);
  const AllReduceStats after = trainer.allreduce_stats();
  if (comm.rank() == 0) {
    int64_t elements = 0;
    for (const auto& p : trainer.model()->parameters()) elements += p.numel();
    PrintCount("parameters", elements);
    Print("step_ms", 1000.0 * seconds / iterations);
    Print("images_per_s",
          static_cast<double>(iterations) * config.training.batch_size * comm.size() / seconds);
    Print("allreduce_wait_share", (after.seconds - before.seconds) / seconds);
    Print("buckets_per_step", static_cast<double>(after.calls - before.calls) / iterations);
    Print("buckets_started_in_backward_per_step",
          static_cast<double>(after.buckets_started_in_backward -
                              before.buckets_started_in_backward) /
              iterations);
    // Training FLOPs ~ 3x forward (backward computes two products per forward one).
    const double flops = 3.0 * ForwardFlopsPerImage(config.model, data.num_classes()) * iterations *
                         config.training.batch_size * comm.size() / seconds;
    Print("model_tflops", flops / 1e12);
    if (g_device.is_cuda())
      Print("mfu", flops / 1e12 / absl::GetFlag(FLAGS_peak_tflops) / comm.size());
  }
  return 0;
}

// UpdateStats (encode image + flip, centres, V, d_i, hard list, PCA) vs the bare encoder passes.
int UpdateStats(Communicator& comm) {
  const JobConfig config = BenchConfig();
  const Dataset data = BenchData(config);
  Trainer trainer(config, data, comm, g_device);
  trainer.UpdateStats();  // warm-up
  // Alternated, the best of each kept (single runs vary by 10-20% on a shared VM).
  const int repeats = 4;
  double stats_seconds = 1e30, forward_seconds = 1e30;
  for (int r = 0; r < repeats; ++r) {
    Synchronize();
    auto start = Clock::now();
    trainer.UpdateStats();
    Synchronize();
    stats_seconds = std::min(stats_seconds, Since(start));
    // The same encoder passes alone, in the same batches of 256.
    torch::NoGradGuard no_grad;
    trainer.model()->eval();
    start = Clock::now();
    const torch::Tensor local = torch::arange(comm.rank(), data.size(), comm.size(), torch::kInt64);
    for (int64_t begin = 0; begin < local.size(0); begin += 256) {
      const torch::Tensor x = ImageBatch(data, local.slice(0, begin, begin + 256)).to(g_device);
      Bf16AutocastScope autocast(g_device.is_cuda() && absl::GetFlag(FLAGS_bf16));
      const torch::Tensor g = trainer.model()->enc->forward(x);
      const torch::Tensor g_flip = trainer.model()->enc->forward(x.flip({3}));
      (void)g.sum().item<float>();
      (void)g_flip.sum().item<float>();
    }
    Synchronize();
    forward_seconds = std::min(forward_seconds, Since(start));
    trainer.model()->train();
  }
  if (comm.rank() == 0) {
    Print("update_stats_s", stats_seconds);
    Print("encoder_passes_s", forward_seconds);
    Print("update_stats_vs_forward", stats_seconds / forward_seconds);
  }
  return 0;
}

// Decoding throughput of the image-folder reader vs what training consumes on the same images.
int Loader(Communicator& comm) {
  JobConfig config = BenchConfig();
  ImageOptions options;
  options.size = config.model.input_size;
  options.channels = config.model.channels;
  auto start = Clock::now();
  absl::StatusOr<Dataset> data = LoadImageFolder(absl::GetFlag(FLAGS_data), options);
  const double load_seconds = Since(start);
  if (!data.ok()) {
    std::cerr << data.status().message() << "\n";
    return 1;
  }
  Trainer trainer(config, *data, comm);
  trainer.Pretrain(absl::GetFlag(FLAGS_warmup));
  start = Clock::now();
  const int iterations = absl::GetFlag(FLAGS_iterations);
  trainer.Pretrain(iterations);
  const double step_seconds = Since(start);
  // The per-step batch assembly (gather + uint8 -> float), the only data work left in the step.
  const torch::Tensor index =
      torch::randint(data->size(), {config.training.batch_size}, torch::kInt64);
  start = Clock::now();
  for (int i = 0; i < 200; ++i) (void)ImageBatch(*data, index).sum().item<float>();
  const double batch_seconds = Since(start) / 200;
  const double loader_rate = data->size() / load_seconds;
  const double step_rate =
      iterations * static_cast<double>(config.training.batch_size) / step_seconds;
  Print("loader_threads", torch::get_num_threads());
  Print("loader_images_per_s", loader_rate);
  Print("step_images_per_s", step_rate);
  Print("batch_assembly_share", batch_seconds / (step_seconds / iterations));
  Print("loader_vs_step", loader_rate / step_rate);
  return 0;
}

// Resident set size of this process, from /proc/self/statm.
double ResidentMegabytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  long pages = 0, resident = 0;
  if (f != nullptr) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE)) / 1e6;
}

// Streaming vs in memory on the same real images (one process, alternated rounds, best of each):
// pre-training images/s of each, what the loader threads alone read and decode per second, and
// the memory each dataset needs (resident set growth while loading).
int Streaming(Communicator& comm) {
  JobConfig config = BenchConfig();
  config.data.path = absl::GetFlag(FLAGS_data);
  config.data.center_crop = absl::GetFlag(FLAGS_center_crop);
  JobConfig streamed_config = config;
  streamed_config.data.streaming = true;
  streamed_config.data.loader_threads = absl::GetFlag(FLAGS_loader_threads);
  streamed_config.data.prefetch_batches = 4;

  const double rss_start = ResidentMegabytes();
  auto start = Clock::now();
  absl::StatusOr<Dataset> streamed = LoadDataset(streamed_config.data, config.model, 1);
  const double list_seconds = Since(start);
  const double rss_streamed = ResidentMegabytes();
  start = Clock::now();
  absl::StatusOr<Dataset> in_memory = LoadDataset(config.data, config.model, 1);
  const double load_seconds = Since(start);
  const double rss_in_memory = ResidentMegabytes();
  if (!streamed.ok() || !in_memory.ok()) {
    std::cerr << (streamed.ok() ? in_memory.status() : streamed.status()).message() << "\n";
    return 1;
  }
  Print("images", static_cast<double>(in_memory->size()));
  Print("identities", static_cast<double>(in_memory->num_classes()));
  Print("list_seconds_streamed", list_seconds);
  Print("load_seconds_in_memory", load_seconds);
  Print("dataset_mb_streamed", rss_streamed - rss_start);
  Print("dataset_mb_in_memory", rss_in_memory - rss_streamed);

  Trainer memory_trainer(config, *in_memory, comm);
  Trainer streamed_trainer(streamed_config, *streamed, comm);
  const int iterations = absl::GetFlag(FLAGS_iterations);
  memory_trainer.Pretrain(absl::GetFlag(FLAGS_warmup));
  streamed_trainer.Pretrain(absl::GetFlag(FLAGS_warmup));
  double best_memory = 1e30, best_streamed = 1e30;
  for (int round = 0; round < absl::GetFlag(FLAGS_rounds); ++round) {
    start = Clock::now();
    memory_trainer.Pretrain(iterations);
    best_memory = std::min(best_memory, Since(start));
    start = Clock::now();
    streamed_trainer.Pretrain(iterations);
    best_streamed = std::min(best_streamed, Since(start));
  }
  const double images = iterations * static_cast<double>(config.training.batch_size);
  // The loader threads alone: random batches, read and decoded, nothing trained.
  const int64_t batches = 2 * iterations;
  const int64_t n = streamed->size();
  BatchPrefetcher reader(
      *streamed,
      [&](int64_t k) {
        return torch::randint(n, {config.training.batch_size}, torch::kInt64) + 0 * k;
      },
      batches, streamed_config.data.loader_threads, 4);
  start = Clock::now();
  for (int64_t k = 0; k < batches; ++k) (void)reader.Next();
  const double read_rate = batches * static_cast<double>(config.training.batch_size) / Since(start);
  Print("step_images_per_s_in_memory", images / best_memory);
  Print("step_images_per_s_streamed", images / best_streamed);
  Print("loader_images_per_s_streamed", read_rate);
  Print("loader_threads", streamed_config.data.loader_threads);
  Print("streamed_vs_in_memory_step", best_memory / best_streamed);
  Print("streamed_loader_vs_step", read_rate / (images / best_memory));
  Print("memory_in_memory_vs_streamed",
        (rss_in_memory - rss_streamed) / std::max(1.0, rss_streamed - rss_start));
  return 0;
}

// 2-rank all-reduce bus bandwidth (2(n-1)/n x bytes / time) vs memcpy bandwidth, both here. The
// two are measured in alternating rounds and the best round of each is kept: on a shared 2-core VM
// single rounds vary by 2x with the neighbours.
int AllReduce(Communicator& comm) {
  const int64_t floats = static_cast<int64_t>(absl::GetFlag(FLAGS_megabytes) * 1024 * 1024 / 4);
  const double bytes = floats * 4.0;
  std::vector<torch::Tensor> buffer = {
      torch::ones({floats}, torch::TensorOptions().device(g_device))};
  torch::Tensor copy_to = torch::empty_like(buffer[0]);
  for (int i = 0; i < 3; ++i) comm.AllReduceSum(buffer);
  const int rounds = 6, per_round = 5;
  double best_allreduce = 1e30, best_memcpy = 1e30;
  for (int round = 0; round < rounds; ++round) {
    Synchronize();
    comm.Barrier();
    auto start = Clock::now();
    for (int i = 0; i < per_round; ++i) comm.AllReduceSum(buffer);
    Synchronize();
    comm.Barrier();
    best_allreduce = std::min(best_allreduce, Since(start) / per_round);
    // memcpy of the same size, on every rank at once (both cores busy, as in the all-reduce);
    // device-to-device on a GPU.
    comm.Barrier();
    start = Clock::now();
    for (int i = 0; i < per_round; ++i) {
      if (g_device.is_cuda()) {
        copy_to.copy_(buffer[0]);
      } else {
        std::memcpy(copy_to.data_ptr(), buffer[0].data_ptr(), static_cast<size_t>(bytes));
      }
    }
    Synchronize();
    best_memcpy = std::min(best_memcpy, Since(start) / per_round);
  }
  const double bus_bandwidth = 2.0 * (comm.size() - 1) / comm.size() * bytes / best_allreduce;
  const double memcpy_bandwidth = bytes / best_memcpy;
  if (comm.rank() == 0) {
    Print("allreduce_ms", 1000 * best_allreduce);
    Print("memcpy_gbps", memcpy_bandwidth / 1e9);
    if (comm.size() == 1) {
      std::cout << "allreduce_note: one rank, nothing crosses a link; run with 2+ ranks\n";
    } else {
      Print("allreduce_bus_gbps", bus_bandwidth / 1e9);
      Print("allreduce_vs_memcpy", bus_bandwidth / memcpy_bandwidth);
    }
  }
  return 0;
}

double Slope(const std::vector<double>& x, const std::vector<double>& y) {
  // Least-squares slope of log y against log x: the growth exponent.
  double mx = 0, my = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    mx += std::log(x[i]) / x.size();
    my += std::log(y[i]) / y.size();
  }
  double num = 0, den = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    num += (std::log(x[i]) - mx) * (std::log(y[i]) - my);
    den += (std::log(x[i]) - mx) * (std::log(x[i]) - mx);
  }
  return num / den;
}

// The UpdateStats statistics (centres, V, d_i, hard list, PCA) on synthetic features of N samples
// in N_c classes; D = 128.
double StatsSeconds(int64_t classes, int64_t samples) {
  const int64_t dim = 128;
  torch::manual_seed(1);
  const torch::Tensor labels = torch::randint(classes, {samples}, torch::kInt64);
  const torch::Tensor features = torch::randn({samples, dim});
  const torch::Tensor is_regular = torch::rand({classes}) < 0.5;
  const auto start = Clock::now();
  CenterAccumulator centers_sum(classes, dim);
  for (int64_t b = 0; b < samples; b += 4096) {
    const torch::Tensor g = features.slice(0, b, b + 4096);
    centers_sum.Add(g, g.flip({1}), labels.slice(0, b, b + 4096), torch::Tensor());
  }
  const ClassCenters centers = FinishCenters(centers_sum);
  SpreadAccumulator spread(classes, dim);
  for (int64_t b = 0; b < samples; b += 4096) {
    spread.Add(features.slice(0, b, b + 4096), labels.slice(0, b, b + 4096), centers.centers,
               is_regular);
  }
  const torch::Tensor hard =
      HardSampleMask(features, labels, centers.centers, spread.mean_distances(), is_regular);
  const TransferBasis basis = ComputeTransferBasis(spread.covariance(), 0, 0.95);
  (void)hard.sum().item<int64_t>();
  return Since(start);
}

// A bias-free FC on a fixed random batch of features: its product alone, and its step
// (f -> logits, softmax + m-L2, backward, Adam).
class FcBench {
 public:
  FcBench(int64_t classes, int64_t batch, int64_t dim)
      : fc_(torch::nn::LinearOptions(dim, classes).bias(false)),
        adam_(fc_->parameters(), torch::optim::AdamOptions(1e-3)),
        f_(torch::randn({batch, dim})),
        y_(torch::randint(classes, {batch}, torch::kInt64)) {}

  void Product() {
    torch::NoGradGuard no_grad;
    (void)fc_->forward(f_).sum().item<float>();
  }

  void Step() {
    adam_.zero_grad();
    const torch::Tensor logits = fc_->forward(f_);
    (SoftmaxLoss(logits, y_) + 0.25 * MetricL2Loss(logits)).backward();
    adam_.step();
  }

 private:
  torch::nn::Linear fc_;
  torch::optim::Adam adam_;
  const torch::Tensor f_, y_;
};

// One FC step at batch 256, D = 128: the mean of 5 after one untimed.
double FcStepSeconds(int64_t classes) {
  FcBench fc(classes, 256, 128);
  fc.Step();
  const int repeats = 5;
  const auto start = Clock::now();
  for (int i = 0; i < repeats; ++i) fc.Step();
  return Since(start) / repeats;
}

// The best time of --iterations runs of `work` after --warmup untimed ones.
double BestSeconds(const std::function<void()>& work) {
  for (int i = 0; i < absl::GetFlag(FLAGS_warmup); ++i) work();
  double best = 1e30;
  for (int i = 0; i < std::max(1, absl::GetFlag(FLAGS_iterations)); ++i) {
    const auto start = Clock::now();
    work();
    best = std::min(best, Since(start));
  }
  return best;
}

// The FC alone at the sizes of --classes, --batch, --dim: the product and the whole step, each the
// best of --iterations after --warmup.
int Fc() {
  const int64_t classes = absl::GetFlag(FLAGS_classes), batch = absl::GetFlag(FLAGS_batch),
                dim = absl::GetFlag(FLAGS_dim);
  torch::manual_seed(1);
  FcBench fc(classes, batch, dim);
  const double product = BestSeconds([&] { fc.Product(); });
  const double step = BestSeconds([&] { fc.Step(); });
  Print("fc_product_ms", 1000.0 * product);
  Print("fc_product_gflops", 2.0 * batch * dim * classes / product / 1e9);
  Print("fc_step_ms", 1000.0 * step);
  return 0;
}

// One classifier step as the trainer takes it at the sizes of --classes, --dim and --batch (per
// rank), the softmax + m-L2 head and Adam: the loss forward and backward (the feature gradient
// included), the gradient average a replicated classifier needs across ranks, the optimizer step.
// Prints the best of --iterations after --warmup (rank 0's; the collectives keep the ranks in
// step) and the bytes of classifier state one rank holds: weights, gradients, Adam's moments.
int ClassifierStep(Communicator& comm) {
  const int64_t classes = absl::GetFlag(FLAGS_classes), batch = absl::GetFlag(FLAGS_batch),
                dim = absl::GetFlag(FLAGS_dim);
  const std::string sharding = absl::GetFlag(FLAGS_sharding);
  LossWeights loss;  // softmax + 0.25 m-L2, the paper's head
  std::unique_ptr<Classifier> classifier;
  torch::manual_seed(1);
  if (sharding == "sharded") {
    classifier = std::make_unique<ShardedClassifier>(dim, classes, loss, comm, 1);
  } else if (sharding == "replicated") {
    classifier = std::make_unique<ReplicatedClassifier>(dim, classes, loss);
  } else {
    std::cerr << "--sharding: replicated or sharded, got '" << sharding << "'\n";
    return 2;
  }
  const std::vector<torch::Tensor> weights = classifier->named_parameters().values();
  torch::optim::Adam adam(weights, torch::optim::AdamOptions(1e-3));
  GradientAverager averager(
      classifier->averages_gradients() ? weights : std::vector<torch::Tensor>{},
      static_cast<int64_t>(absl::GetFlag(FLAGS_bucket_mb) * 1024 * 1024));
  torch::manual_seed(100 + comm.rank());
  const torch::Tensor f = torch::randn({batch, dim}).requires_grad_(true);
  const torch::Tensor y = torch::randint(classes, {batch}, torch::kInt64);
  auto step = [&] {
    adam.zero_grad();
    f.mutable_grad() = torch::Tensor();
    const ClassificationTerms terms = classifier->Losses(f, y);
    (loss.sfmx * terms.sfmx + loss.reg * terms.reg).backward();
    if (comm.size() > 1 && classifier->averages_gradients()) averager.Average(comm);
    adam.step();
  };
  const double best = BestSeconds(step);
  int64_t state_bytes = 0;
  for (const torch::Tensor& w : weights) {
    state_bytes += w.nbytes();
    if (w.grad().defined()) state_bytes += w.grad().nbytes();
  }
  for (const auto& [key, state] : adam.state()) {
    const auto& adam_state = static_cast<const torch::optim::AdamParamState&>(*state);
    state_bytes += adam_state.exp_avg().nbytes() + adam_state.exp_avg_sq().nbytes();
  }
  if (comm.rank() == 0) {
    Print("classifier_step_ms", 1000.0 * best);
    PrintCount("classifier_state_bytes_per_rank", state_bytes);
  }
  return 0;
}

int Growth() {
  std::vector<double> classes = {1000, 10000, 100000}, stats_t, fc_t;
  for (double c : classes) {
    stats_t.push_back(StatsSeconds(static_cast<int64_t>(c), 200000));
    fc_t.push_back(FcStepSeconds(static_cast<int64_t>(c)));
    Print(absl::StrFormat("update_stats_s_classes_%d", static_cast<int>(c)), stats_t.back());
    Print(absl::StrFormat("fc_step_s_classes_%d", static_cast<int>(c)), fc_t.back());
  }
  std::vector<double> samples = {50000, 200000, 800000}, data_t;
  for (double n : samples) {
    data_t.push_back(StatsSeconds(10000, static_cast<int64_t>(n)));
    Print(absl::StrFormat("update_stats_s_samples_%d", static_cast<int>(n)), data_t.back());
  }
  Print("update_stats_exponent_in_classes", Slope(classes, stats_t));
  Print("fc_step_exponent_in_classes", Slope(classes, fc_t));
  Print("update_stats_exponent_in_samples", Slope(samples, data_t));
  return 0;
}

}  // namespace
}  // namespace ftl

int main(int argc, char** argv) {
  ftl::ReexecForBetterOpenBlasCore(argv);
  std::unique_ptr<ftl::Communicator> comm = ftl::CreateMpiCommunicator(&argc, &argv);
  absl::SetProgramUsageMessage(
      "ftl_bench step|update_stats|loader|streaming|allreduce|growth|fc|classifier_step [flags]: "
      "see bench/run.sh");
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  if (args.size() != 2) {
    std::cerr << "usage: ftl_bench "
                 "step|update_stats|loader|streaming|allreduce|growth|fc|classifier_step [flags] "
                 "(--help)\n";
    return 2;
  }
  torch::set_num_threads(absl::GetFlag(FLAGS_threads));
  if (absl::GetFlag(FLAGS_set_blas_threads)) ftl::SetBlasThreads(absl::GetFlag(FLAGS_threads));
  if (comm->rank() == 0) {
    const ftl::LoadedBlas blas = ftl::DescribeLoadedBlas();
    std::cout << "blas: " << blas.name << " " << blas.blas_file << std::endl;
  }
  absl::StatusOr<torch::Device> device = ftl::ResolveDevice(
      absl::GetFlag(FLAGS_device), ftl::LocalRankFromEnvironment(comm->local_rank()));
  if (!device.ok()) {
    std::cerr << device.status().message() << "\n";
    return 2;
  }
  ftl::g_device = *device;
  absl::StatusOr<std::unique_ptr<ftl::Communicator>> device_comm =
      ftl::CommunicatorForDevice(std::move(comm), *device);
  if (!device_comm.ok()) {
    std::cerr << device_comm.status().message() << "\n";
    return 1;
  }
  comm = std::move(*device_comm);
  const std::string command = args[1];
  if (command == "step") return ftl::Step(*comm);
  if (command == "update_stats") return ftl::UpdateStats(*comm);
  if (command == "loader") return ftl::Loader(*comm);
  if (command == "streaming") return ftl::Streaming(*comm);
  if (command == "allreduce") return ftl::AllReduce(*comm);
  if (command == "growth") return ftl::Growth();
  if (command == "fc") return ftl::Fc();
  if (command == "classifier_step") return ftl::ClassifierStep(*comm);
  std::cerr << "unknown command '" << command << "'\n";
  return 2;
}
