// Single-process trainer behaviour: what each phase trains, and exact resume.
#include "common/train/trainer.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <opencv2/imgcodecs.hpp>
#include <tuple>

#include "common/checkpoint/checkpoint_file.h"
#include "common/comm/device_communicator.h"
#include "common/data/augment.h"
#include "tests/test_util.h"

namespace ftl {
namespace {

std::vector<torch::Tensor> Snapshot(torch::nn::Module& module) {
  std::vector<torch::Tensor> copies;
  for (const torch::Tensor& p : module.parameters()) copies.push_back(p.detach().clone());
  return copies;
}

bool BitIdentical(torch::nn::Module& module, const std::vector<torch::Tensor>& before) {
  const std::vector<torch::Tensor> now = module.parameters();
  for (size_t i = 0; i < now.size(); ++i) {
    if (!torch::equal(now[i], before[i])) return false;
  }
  return true;
}

class TrainerTest : public ::testing::Test {
 protected:
  TrainerTest()
      : config_(testing::TinyJobConfig()),
        data_(testing::SyntheticDataset({12, 10, 9, 3, 2, 2})),
        comm_(CreateLocalCommunicator()) {}

  // Whether two pre-training iterations under `changed` end with other parameters than under
  // config_.
  bool PretrainingDiffers(const JobConfig& changed) {
    Trainer plain(config_, data_, *comm_), other(changed, data_, *comm_);
    plain.Pretrain(2);
    other.Pretrain(2);
    const auto p = plain.model()->parameters();
    const auto o = other.model()->parameters();
    for (size_t i = 0; i < p.size(); ++i) {
      if (!torch::equal(p[i], o[i])) return true;
    }
    return false;
  }

  JobConfig config_;
  Dataset data_;
  std::unique_ptr<Communicator> comm_;
};

TEST(DeviceTest, CpuBuildsAndMachinesResolveHonestly) {
  absl::StatusOr<torch::Device> cpu = ResolveDevice("cpu", 0);
  ASSERT_TRUE(cpu.ok());
  EXPECT_TRUE(cpu->is_cpu());
  EXPECT_FALSE(ResolveDevice("tpu", 0).ok());
  // Here (no GPU, or a CPU LibTorch) auto falls back to the CPU and cuda is refused with a reason.
  if (!torch::cuda::is_available()) {
    absl::StatusOr<torch::Device> automatic = ResolveDevice("auto", 3);
    ASSERT_TRUE(automatic.ok());
    EXPECT_TRUE(automatic->is_cpu());
    absl::StatusOr<torch::Device> cuda = ResolveDevice("cuda", 0);
    ASSERT_FALSE(cuda.ok());
    EXPECT_NE(cuda.status().message().find("cuda"), std::string::npos);
  }
  setenv("OMPI_COMM_WORLD_LOCAL_RANK", "5", 1);
  EXPECT_EQ(LocalRankFromEnvironment(0), 5);
  unsetenv("OMPI_COMM_WORLD_LOCAL_RANK");
  setenv("SLURM_LOCALID", "2", 1);
  EXPECT_EQ(LocalRankFromEnvironment(0), 2);
  unsetenv("SLURM_LOCALID");
  EXPECT_EQ(LocalRankFromEnvironment(7), 7);
}

// The model's upsampling layer is a transposed convolution computed another way: same values and
// gradients as LibTorch's conv_transpose2d, for both output paddings.
TEST(UpsampleConvTest, EqualsTransposedConvolution) {
  for (const auto& [in_size, out_size, bias] : {std::tuple{4, 8, true}, std::tuple{8, 15, false}}) {
    torch::manual_seed(11);
    UpsampleConv3x3 layer(6, 5, in_size, out_size, bias);
    const torch::Tensor x = torch::randn({3, 6, in_size, in_size}, torch::requires_grad());
    const torch::Tensor y = layer->forward(x);
    ASSERT_EQ(y.sizes(), (std::vector<int64_t>{3, 5, out_size, out_size}));
    const auto params = layer->named_parameters();
    const torch::Tensor w = params["weight"];
    const torch::Tensor b = bias ? params["bias"] : torch::Tensor();
    const torch::Tensor reference =
        torch::conv_transpose2d(x, w, b, /*stride=*/2, /*padding=*/1,
                                /*output_padding=*/out_size - (2 * in_size - 1));
    EXPECT_TRUE(torch::allclose(y, reference, 1e-5, 1e-5)) << (y - reference).abs().max();
    const torch::Tensor upstream = torch::randn_like(y);
    const auto ours = torch::autograd::grad({y}, {x, w}, {upstream});
    const auto theirs = torch::autograd::grad({reference}, {x, w}, {upstream});
    EXPECT_TRUE(torch::allclose(ours[0], theirs[0], 1e-4, 1e-5));
    EXPECT_TRUE(torch::allclose(ours[1], theirs[1], 1e-4, 1e-5));
  }
}

TEST_F(TrainerTest, StageOneFreezesEncoderAndDecoderBitForBit) {
  Trainer trainer(config_, data_, *comm_);
  trainer.Pretrain(3);
  trainer.UpdateStats();
  FtlModel& m = trainer.model();
  const auto enc = Snapshot(*m->enc), dec = Snapshot(*m->dec);
  const auto filter = Snapshot(*m->filter);
  const torch::Tensor fc = testing::ClassifierWeight(trainer.classifier()).detach().clone();
  trainer.StageOne(4, 0);
  EXPECT_TRUE(BitIdentical(*m->enc, enc));
  EXPECT_TRUE(BitIdentical(*m->dec, dec));
  EXPECT_FALSE(BitIdentical(*m->filter, filter));
  EXPECT_FALSE(torch::equal(testing::ClassifierWeight(trainer.classifier()), fc));
}

TEST_F(TrainerTest, StageTwoFreezesTheClassifierBitForBit) {
  Trainer trainer(config_, data_, *comm_);
  trainer.Pretrain(3);
  trainer.UpdateStats();
  trainer.StageOne(2, 0);
  FtlModel& m = trainer.model();
  const auto enc = Snapshot(*m->enc), dec = Snapshot(*m->dec);
  const auto filter = Snapshot(*m->filter);
  const torch::Tensor fc = testing::ClassifierWeight(trainer.classifier()).detach().clone();
  trainer.StageTwo(4, 0);
  EXPECT_TRUE(torch::equal(testing::ClassifierWeight(trainer.classifier()), fc));
  EXPECT_FALSE(BitIdentical(*m->enc, enc));
  EXPECT_FALSE(BitIdentical(*m->dec, dec));
  EXPECT_FALSE(BitIdentical(*m->filter, filter));
}

TEST_F(TrainerTest, PretrainingTrainsEveryModule) {
  Trainer trainer(config_, data_, *comm_);
  FtlModel& m = trainer.model();
  const auto enc = Snapshot(*m->enc), dec = Snapshot(*m->dec);
  const auto filter = Snapshot(*m->filter);
  const torch::Tensor fc = testing::ClassifierWeight(trainer.classifier()).detach().clone();
  const PhaseReport report = trainer.Pretrain(3);
  EXPECT_FALSE(BitIdentical(*m->enc, enc));
  EXPECT_FALSE(BitIdentical(*m->dec, dec));
  EXPECT_FALSE(BitIdentical(*m->filter, filter));
  EXPECT_FALSE(torch::equal(testing::ClassifierWeight(trainer.classifier()), fc));
  EXPECT_EQ(report.images, 3 * config_.training.batch_size);
  EXPECT_GT(report.losses.at("sfmx"), 0.0);
}

TEST_F(TrainerTest, UpdateStatsFindsHardRegularSamplesAndABasis) {
  Trainer trainer(config_, data_, *comm_);
  trainer.Pretrain(2);
  const PhaseReport report = trainer.UpdateStats();
  const FtlStatistics& s = trainer.statistics();
  ASSERT_TRUE(s.valid);
  EXPECT_EQ(s.centers.sizes(), (std::vector<int64_t>{6, 8}));
  EXPECT_GT(s.basis.size(1), 0);
  const int64_t hard = s.hard_mask.sum().item<int64_t>();
  EXPECT_GT(hard, 0);
  EXPECT_EQ(report.metrics.at("hard_samples"), hard);
  // Only regular classes (0, 1, 2 have more than 5 images) contribute hard samples.
  EXPECT_FALSE(s.hard_mask.masked_select(data_.labels >= 3).any().item<bool>());
  EXPECT_GE(report.metrics.at("pca_energy_kept"), config_.training.pca_energy);
}

void ExpectSameParameters(torch::nn::Module& a, torch::nn::Module& b) {
  const auto pa = a.named_parameters();
  const auto pb = b.named_parameters();
  for (const auto& item : pa) {
    EXPECT_TRUE(torch::allclose(item.value(), pb[item.key()], 1e-6, 1e-7)) << item.key();
  }
}

TEST_F(TrainerTest, ResumeEqualsContinuingInPretraining) {
  const std::string path = ::testing::TempDir() + "/resume_pretrain.ftlckpt";
  Trainer straight(config_, data_, *comm_);
  straight.Pretrain(6);
  {
    Trainer first_half(config_, data_, *comm_);
    first_half.Pretrain(3);
    ASSERT_TRUE(first_half.SaveCheckpoint(path, 1).ok());
  }
  Trainer resumed(config_, data_, *comm_);
  resumed.Pretrain(1);  // diverge first, so loading must really overwrite everything
  absl::StatusOr<int64_t> position = resumed.LoadCheckpoint(path);
  ASSERT_TRUE(position.ok()) << position.status();
  EXPECT_EQ(*position, 1);
  resumed.Pretrain(3);
  ExpectSameParameters(*straight.model(), *resumed.model());
}

TEST_F(TrainerTest, ResumeEqualsContinuingAcrossTheStages) {
  const std::string path = ::testing::TempDir() + "/resume_stage.ftlckpt";
  Trainer straight(config_, data_, *comm_);
  straight.Pretrain(2);
  straight.UpdateStats();
  straight.StageOne(4, 0);
  straight.StageTwo(3, 0);
  {
    Trainer first(config_, data_, *comm_);
    first.Pretrain(2);
    first.UpdateStats();
    first.StageOne(2, 0);
    ASSERT_TRUE(first.SaveCheckpoint(path, 7).ok());
  }
  Trainer resumed(config_, data_, *comm_);
  ASSERT_TRUE(resumed.LoadCheckpoint(path).ok());
  ASSERT_TRUE(resumed.statistics().valid);
  resumed.StageOne(2, 0);
  resumed.StageTwo(3, 0);
  ExpectSameParameters(*straight.model(), *resumed.model());
}

// arcface_torch's recipe (SGD with momentum and weight decay, poly schedule with warm-up, clipping,
// an ArcFace head, random flips): a job resumed mid-phase trains exactly as one that never stopped,
// because the schedule and the flips follow the step counters the checkpoint carries.
TEST_F(TrainerTest, ResumeEqualsContinuingWithSgdScheduleArcFaceAndFlips) {
  testing::UseArcFaceSgdRecipe(&config_, /*warmup=*/2, /*clip=*/1.0);
  for (OptimizerConfig* o :
       {&config_.training.pretrain_optimizer, &config_.training.stage1_optimizer,
        &config_.training.stage2_optimizer})
    o->nesterov = true;
  config_.training.stage1_optimizer.schedule = LrSchedule::kCosine;
  config_.training.pretrain_iterations = 4;
  config_.training.stage_iterations = 3;
  const std::string pretrain_path = ::testing::TempDir() + "/resume_sgd_pretrain.ftlckpt";
  const std::string stage_path = ::testing::TempDir() + "/resume_sgd_stage.ftlckpt";
  Trainer straight(config_, data_, *comm_);
  straight.Pretrain(4);
  straight.UpdateStats();
  straight.StageOne(3, 0);
  straight.StageTwo(3, 0);
  {
    Trainer first(config_, data_, *comm_);
    first.Pretrain(2);
    ASSERT_TRUE(first.SaveCheckpoint(pretrain_path, 1).ok());
  }
  {
    Trainer second(config_, data_, *comm_);
    ASSERT_TRUE(second.LoadCheckpoint(pretrain_path).ok());
    second.Pretrain(2);
    second.UpdateStats();
    second.StageOne(1, 0);
    ASSERT_TRUE(second.SaveCheckpoint(stage_path, 5).ok());
  }
  Trainer resumed(config_, data_, *comm_);
  resumed.Pretrain(1);  // diverge first, so loading must really overwrite everything
  ASSERT_TRUE(resumed.LoadCheckpoint(stage_path).ok());
  resumed.StageOne(2, 0);
  resumed.StageTwo(3, 0);
  ExpectSameParameters(*straight.model(), *resumed.model());
}

// The schedule and the clipping reach the optimizer: with a warm-up far longer than the run, SGD's
// first step runs at lr / 1e9 and barely moves the weights; so does clipping the gradient's norm
// to 1e-9; at a constant rate without clipping the step moves them.
TEST_F(TrainerTest, TheScheduledLearningRateAndClippingAreTheOnesUsed) {
  auto moved = [this](int64_t warmup, double clip = 0.0) {
    JobConfig config = config_;
    config.training.pretrain_optimizer.kind = OptimizerKind::kSgd;
    config.training.pretrain_optimizer.warmup_iterations = warmup;
    config.training.pretrain_optimizer.clip_grad_norm = clip;
    config.training.pretrain_lr = 0.1;
    Trainer trainer(config, data_, *comm_);
    const std::vector<torch::Tensor> before = Snapshot(*trainer.model());
    trainer.Pretrain(1);
    double change = 0;
    const auto now = trainer.model()->parameters();
    for (size_t i = 0; i < now.size(); ++i)
      change += (now[i] - before[i]).abs().sum().item<double>();
    return change;
  };
  const double constant = moved(0);
  EXPECT_GT(constant, 1e-3);
  EXPECT_LT(moved(1000000000), constant * 1e-6);
  EXPECT_LT(moved(0, 1e-9), constant * 1e-6);
}

// Flips are a pure function of (seed, stream, step, position): repeatable, about half, different
// per step and stream; and they change what a job trains.
TEST_F(TrainerTest, RandomFlipsAreRepeatableAndChangeTraining) {
  const torch::Tensor a = FlipMask(7, SampleStream::kPretrain, 3, 4096);
  EXPECT_TRUE(torch::equal(a, FlipMask(7, SampleStream::kPretrain, 3, 4096)));
  EXPECT_FALSE(torch::equal(a, FlipMask(7, SampleStream::kPretrain, 4, 4096)));
  EXPECT_FALSE(torch::equal(a, FlipMask(7, SampleStream::kStageTwo, 3, 4096)));
  EXPECT_FALSE(torch::equal(a, FlipMask(8, SampleStream::kPretrain, 3, 4096)));
  EXPECT_NEAR(a.to(torch::kFloat64).mean().item<double>(), 0.5, 0.03);
  JobConfig flipped = config_;
  flipped.data.random_flip = true;
  EXPECT_TRUE(PretrainingDiffers(flipped));
}

// Crop shifts are a pure function of (seed, stream, step, position) within [-N, N]; ShiftImages
// cuts each image as a loop over its pixels says.
TEST_F(TrainerTest, RandomCropsAreRepeatableAndShiftAsANaiveLoop) {
  const torch::Tensor a = CropShifts(7, SampleStream::kPretrain, 3, 2048, 3);
  EXPECT_TRUE(torch::equal(a, CropShifts(7, SampleStream::kPretrain, 3, 2048, 3)));
  EXPECT_FALSE(torch::equal(a, CropShifts(7, SampleStream::kPretrain, 4, 2048, 3)));
  EXPECT_FALSE(torch::equal(a, CropShifts(7, SampleStream::kStageOneUr, 3, 2048, 3)));
  EXPECT_EQ(a.min().item<int64_t>(), -3);
  EXPECT_EQ(a.max().item<int64_t>(), 3);
  EXPECT_NEAR(a.to(torch::kFloat64).mean().item<double>(), 0.0, 0.1);
  EXPECT_EQ(CropShifts(7, SampleStream::kPretrain, 3, 5, 0).abs().sum().item<int64_t>(), 0);

  torch::manual_seed(0);
  const torch::Tensor images = torch::rand({4, 2, 5, 6});
  const torch::Tensor shifts =
      torch::tensor({0, 0, 2, -1, -3, 1, 1, 3}, torch::kInt64).view({4, 2});
  const torch::Tensor out = ShiftImages(images, shifts);
  ASSERT_EQ(out.sizes(), images.sizes());
  auto in = images.accessor<float, 4>();
  auto got = out.accessor<float, 4>();
  for (int64_t i = 0; i < 4; ++i) {
    const int64_t dy = shifts[i][0].item<int64_t>(), dx = shifts[i][1].item<int64_t>();
    for (int64_t c = 0; c < 2; ++c)
      for (int64_t y = 0; y < 5; ++y)
        for (int64_t x = 0; x < 6; ++x) {
          const int64_t sy = y + dy, sx = x + dx;
          const float expected = (sy >= 0 && sy < 5 && sx >= 0 && sx < 6) ? in[i][c][sy][sx] : 0.0f;
          ASSERT_EQ(got[i][c][y][x], expected) << i << " " << c << " " << y << " " << x;
        }
  }
  // And they change what a job trains.
  JobConfig cropped = config_;
  cropped.data.random_crop_pixels = 2;
  EXPECT_TRUE(PretrainingDiffers(cropped));
}

// Streaming reads the same images when batches are drawn (on loader threads, ahead of use), so a
// streamed job trains exactly as one that decoded everything first.
TEST_F(TrainerTest, StreamedTrainingEqualsInMemoryTraining) {
  const std::string root =
      ::testing::TempDir() + "/streamed_training_" + std::to_string(::getpid());
  std::filesystem::remove_all(root);
  for (int64_t i = 0; i < data_.size(); ++i) {
    const std::string dir = root + "/" + data_.class_names[data_.labels[i].item<int64_t>()];
    std::filesystem::create_directories(dir);
    const torch::Tensor image = data_.images[i][0].contiguous();
    const cv::Mat mat(16, 16, CV_8UC1, image.data_ptr<uint8_t>());
    ASSERT_TRUE(cv::imwrite(dir + "/" + std::to_string(1000 + i) + ".png", mat));
  }
  JobConfig in_memory_config = config_;
  in_memory_config.data.random_flip = true;      // flips and crops follow the batch position,
  in_memory_config.data.random_crop_pixels = 2;  // not the source
  in_memory_config.data.path = root;
  in_memory_config.runtime.output_dir = root + "/out";
  JobConfig streamed_config = in_memory_config;
  streamed_config.data.streaming = true;
  streamed_config.data.loader_threads = 2;
  streamed_config.data.prefetch_batches = 3;
  absl::StatusOr<Dataset> in_memory = LoadDataset(in_memory_config.data, config_.model, 1);
  absl::StatusOr<Dataset> streamed = LoadDataset(streamed_config.data, config_.model, 1);
  ASSERT_TRUE(in_memory.ok()) << in_memory.status();
  ASSERT_TRUE(streamed.ok()) << streamed.status();
  ASSERT_FALSE(streamed->images.defined());
  Trainer a(in_memory_config, *in_memory, *comm_);
  Trainer b(streamed_config, *streamed, *comm_);
  for (Trainer* t : {&a, &b}) {
    t->Pretrain(3);
    t->UpdateStats();
    t->StageOne(3, 0);
    t->StageTwo(2, 0);
  }
  EXPECT_TRUE(torch::equal(a.statistics().hard_mask, b.statistics().hard_mask));
  EXPECT_TRUE(torch::equal(a.statistics().centers, b.statistics().centers));
  const auto pa = a.model()->named_parameters();
  const auto pb = b.model()->named_parameters();
  for (const auto& item : pa) EXPECT_TRUE(torch::equal(item.value(), pb[item.key()])) << item.key();
  EXPECT_EQ(a.Evaluate().metrics.at("train_top1_regular"),
            b.Evaluate().metrics.at("train_top1_regular"));
  std::filesystem::remove_all(root);
}

TEST_F(TrainerTest, CheckpointOfAnotherJobIsRefused) {
  const std::string path = ::testing::TempDir() + "/other_job.ftlckpt";
  Trainer trainer(config_, data_, *comm_);
  ASSERT_TRUE(trainer.SaveCheckpoint(path, 0).ok());
  const Dataset other = testing::SyntheticDataset({12, 10, 9});
  Trainer different(config_, other, *comm_);
  const absl::StatusOr<int64_t> position = different.LoadCheckpoint(path);
  ASSERT_FALSE(position.ok());
  EXPECT_EQ(position.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(position.status().message().find("another job"), std::string::npos);
}

// --resume continues only the run that wrote the checkpoint: another recipe is refused naming the
// setting; the same recipe (and `ftl eval`'s kAnyRun) loads.
TEST_F(TrainerTest, ResumeOfAnotherRunsCheckpointIsRefusedNamingTheSettings) {
  const std::string path = ::testing::TempDir() + "/other_run.ftlckpt";
  {
    Trainer trainer(config_, data_, *comm_);
    trainer.Pretrain(1);
    ASSERT_TRUE(trainer.SaveCheckpoint(path, 1).ok());
  }
  JobConfig other = config_;
  other.training.stage1_lr *= 3;
  other.training.seed += 1;
  Trainer different(other, data_, *comm_);
  const absl::StatusOr<int64_t> refused = different.LoadCheckpoint(path, CheckpointUse::kSameRun);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);  // exit 2: no retry
  const std::string message(refused.status().message());
  EXPECT_NE(message.find("2 setting(s) differ"), std::string::npos) << message;
  EXPECT_NE(message.find("training.stage1_lr: "), std::string::npos) << message;
  EXPECT_NE(message.find(absl::StrCat("training.seed: ", config_.training.seed,
                                      " in the checkpoint, ", other.training.seed, " in this job")),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("training.init_checkpoint"), std::string::npos) << message;
  EXPECT_TRUE(different.LoadCheckpoint(path, CheckpointUse::kAnyRun).ok());
  ::testing::internal::CaptureStderr();
  EXPECT_TRUE(different.LoadCheckpoint(path, CheckpointUse::kChangedRun).ok());
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(log.find("despite 2 changed setting(s)"), std::string::npos) << log;
  JobConfig more_rounds = config_;  // extending a run is the same run
  more_rounds.training.rounds += 3;
  more_rounds.runtime.output_dir = "/elsewhere";
  Trainer same(more_rounds, data_, *comm_);
  const absl::StatusOr<int64_t> resumed = same.LoadCheckpoint(path, CheckpointUse::kSameRun);
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  EXPECT_EQ(*resumed, 1);
}

TEST_F(TrainerTest, ACheckpointWithoutARecipeStillResumes) {
  const std::string path = ::testing::TempDir() + "/no_recipe.ftlckpt";
  {
    Trainer trainer(config_, data_, *comm_);
    ASSERT_TRUE(trainer.SaveCheckpoint(path, 2).ok());
  }
  absl::StatusOr<NamedTensors> contents = ReadCheckpointFile(path);
  ASSERT_TRUE(contents.ok()) << contents.status();
  ASSERT_EQ(contents->metadata.count("ftl.recipe"), 1u);
  contents->metadata.erase("ftl.recipe");
  ASSERT_TRUE(WriteCheckpointFile(path, *contents).ok());
  JobConfig other = config_;
  other.training.seed += 1;
  Trainer resumed(other, data_, *comm_);
  const absl::StatusOr<int64_t> position = resumed.LoadCheckpoint(path, CheckpointUse::kSameRun);
  ASSERT_TRUE(position.ok()) << position.status();
  EXPECT_EQ(*position, 2);
}

TEST_F(TrainerTest, EvaluateReportsAccuracyAndNormRatio) {
  Trainer trainer(config_, data_, *comm_);
  trainer.Pretrain(2);
  const PhaseReport report = trainer.Evaluate();
  const auto& m = report.metrics;
  ASSERT_TRUE(m.count("train_top1_regular") && m.count("train_top1_ur") &&
              m.count("ur_regular_norm_ratio"));
  EXPECT_GE(m.at("train_top1_regular"), 0.0);
  EXPECT_LE(m.at("train_top1_regular"), 1.0);
  EXPECT_NEAR(m.at("ur_regular_norm_ratio"), trainer.UrToRegularWeightNormRatio(), 1e-12);
}

// With evaluation.train_top1_max_images below the set's size, the training top-1 classifies
// every k-th image only (k = ceil(N / max)): the same figures as classifying exactly those images.
TEST_F(TrainerTest, TrainingTop1ClassifiesEveryKthImageUnderTheCap) {
  JobConfig capped = config_;
  capped.evaluation.train_top1_max_images = 13;  // 38 images: every 3rd, 13 of them
  Trainer trainer(capped, data_, *comm_);
  trainer.Pretrain(3);
  const PhaseReport report = trainer.Evaluate();
  ASSERT_EQ(data_.size(), 38);
  EXPECT_EQ(report.images, 13);

  // The reference: the 13 images as a set of their own, the same classes and roles, every image
  // classified, the trained weights copied in.
  const torch::Tensor rows = torch::arange(0, data_.size(), 3, torch::kInt64);
  Dataset sampled = data_;
  sampled.images = data_.images.index_select(0, rows);
  sampled.labels = data_.labels.index_select(0, rows);
  sampled.sample_names.clear();
  for (int64_t i = 0; i < rows.size(0); ++i)
    sampled.sample_names.push_back(data_.sample_names[rows[i].item<int64_t>()]);
  sampled.regular_classes = RegularClassMask(data_, config_.data.ur_max_images);
  JobConfig all = config_;
  all.evaluation.train_top1_max_images = 0;
  Trainer reference(all, sampled, *comm_);
  {
    torch::NoGradGuard no_grad;
    auto from = trainer.model()->named_parameters();
    for (auto& p : reference.model()->named_parameters()) p.value().copy_(from[p.key()]);
    auto from_fc = trainer.classifier().named_parameters();
    for (auto& p : reference.classifier().named_parameters()) p.value().copy_(from_fc[p.key()]);
    auto buffers = trainer.model()->named_buffers();
    for (auto& b : reference.model()->named_buffers()) b.value().copy_(buffers[b.key()]);
  }
  const PhaseReport expected = reference.Evaluate();
  EXPECT_EQ(expected.images, 13);
  for (const char* metric : {"train_top1_regular", "train_top1_ur"}) {
    ASSERT_TRUE(report.metrics.count(metric) && expected.metrics.count(metric)) << metric;
    EXPECT_DOUBLE_EQ(report.metrics.at(metric), expected.metrics.at(metric)) << metric;
  }
  // Uncapped, all 38.
  Trainer whole(all, data_, *comm_);
  EXPECT_EQ(whole.Evaluate().images, 38);
}

}  // namespace
}  // namespace ftl
