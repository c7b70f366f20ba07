// The IResNet backbones: arcface_torch's parameter counts, and the trainer on an IResNet (no
// decoder, a frozen embedding batch-norm weight, batch-norm statistics that stage 1 leaves alone,
// exact resume with the statistics in the checkpoint).
#include <gtest/gtest.h>

#include "common/comm/device_communicator.h"
#include "common/model/ftl_model.h"
#include "common/model/iresnet.h"
#include "common/train/trained_model.h"
#include "common/train/trainer.h"
#include "tests/test_util.h"

namespace ftl {
namespace {

int64_t CountParameters(const torch::nn::Module& module) {
  int64_t n = 0;
  for (const torch::Tensor& p : module.parameters()) n += p.numel();
  return n;
}

// Counted by scripts/iresnet_reference.py (arcface_torch's layout in PyTorch; the CTest
// iresnet_reference_counts checks that script prints these same numbers).
TEST(BackboneTest, ParameterCountsEqualArcFaceTorchs) {
  const std::pair<const char*, int64_t> expected[] = {{"iresnet18", 24025600},
                                                      {"iresnet34", 34139328},
                                                      {"iresnet50", 43590848},
                                                      {"iresnet100", 65156160}};
  for (const auto& [name, count] : expected) {
    absl::StatusOr<ModelShape> shape = ModelPreset(name);
    ASSERT_TRUE(shape.ok()) << name;
    EXPECT_EQ(shape->input_size, 112);
    EXPECT_EQ(shape->channels, 3);
    EXPECT_EQ(shape->feature_dim, 512);
    EXPECT_FALSE(shape->has_decoder());
    IResNet net(shape->iresnet_blocks, 3, 112, 512);
    EXPECT_EQ(CountParameters(*net), count) << name;
    const torch::Tensor g = net->forward(torch::zeros({2, 3, 112, 112}));
    EXPECT_EQ(g.sizes(), (std::vector<int64_t>{2, 512}));
    if (std::string(name) != "iresnet18") continue;
    // The rest of FTL's model: no decoder, R an MLP (2 x (512 x 512 + 512) + 512 PReLU slopes).
    FtlModel model(*shape, 10);
    EXPECT_FALSE(model->dec);
    EXPECT_EQ(CountParameters(*model->filter), 2 * (512 * 512 + 512) + 512);
    EXPECT_EQ(CountParameters(*model), count + CountParameters(*model->filter) + 10 * 512);
  }
}

class IResNetTrainerTest : public ::testing::Test {
 protected:
  IResNetTrainerTest()
      : config_(testing::TinyJobConfig()),
        data_(testing::SyntheticDataset({12, 10, 9, 3, 2, 2}, 16, 3)),
        comm_(CreateLocalCommunicator()) {
    config_.preset = "iresnet18";
    ModelShape& m = config_.model;
    m = *ModelPreset("iresnet18");
    m.input_size = 16;  // 16x16 inputs and D 16: iresnet18's layers, fast enough for a unit test
    m.feature_dim = 16;
    config_.loss.recon = 0;
    config_.loss.head.kind = HeadKind::kArcFace;
    config_.loss.head.scale = 8;
    config_.loss.head.m2 = 0.3;
    config_.loss.reg = 0;
    config_.runtime.output_dir = ::testing::TempDir();
  }

  static std::vector<torch::Tensor> Buffers(Trainer& t) {
    std::vector<torch::Tensor> out;
    for (const torch::Tensor& b : t.model()->buffers()) out.push_back(b.clone());
    return out;
  }

  JobConfig config_;
  Dataset data_;
  std::unique_ptr<Communicator> comm_;
};

TEST_F(IResNetTrainerTest, TrainsEveryPhaseWithoutADecoder) {
  Trainer trainer(config_, data_, *comm_);
  const torch::Tensor features_weight = trainer.model()->enc->frozen_parameters().at(0);
  const PhaseReport pre = trainer.Pretrain(3);
  EXPECT_EQ(pre.losses.count("recon"), 0u) << "no decoder, no reconstruction term";
  EXPECT_EQ(pre.losses.count("reg"), 0u) << "no m-L2 under a margin head";
  EXPECT_TRUE(std::isfinite(pre.losses.at("sfmx")));
  trainer.UpdateStats();
  ASSERT_TRUE(trainer.statistics().valid);
  // Stage 1 encodes with the frozen encoder in eval mode: its batch-norm statistics stay.
  const std::vector<torch::Tensor> before_stage1 = Buffers(trainer);
  trainer.StageOne(2, 0);
  const std::vector<torch::Tensor> after_stage1 = Buffers(trainer);
  for (size_t i = 0; i < before_stage1.size(); ++i) {
    EXPECT_TRUE(torch::equal(before_stage1[i], after_stage1[i])) << "buffer " << i;
  }
  trainer.StageTwo(2, 0);
  bool moved = false;
  const std::vector<torch::Tensor> after_stage2 = Buffers(trainer);
  for (size_t i = 0; i < after_stage2.size(); ++i) {
    moved |= after_stage2[i].is_floating_point() && !torch::equal(after_stage1[i], after_stage2[i]);
  }
  EXPECT_TRUE(moved) << "stage 2 trains the encoder, batch norm included";
  // arcface_torch keeps the embedding batch norm's weight at 1.
  EXPECT_TRUE(torch::equal(features_weight, torch::ones_like(features_weight)));
  EXPECT_FALSE(features_weight.requires_grad());
  const PhaseReport evaluation = trainer.Evaluate();
  EXPECT_GE(evaluation.metrics.at("train_top1_regular"), 0.0);
}

TEST_F(IResNetTrainerTest, ResumeEqualsContinuingWithBatchNormStatistics) {
  const std::string path = ::testing::TempDir() + "/iresnet_resume.ftlckpt";
  Trainer straight(config_, data_, *comm_);
  straight.Pretrain(4);
  {
    Trainer first(config_, data_, *comm_);
    first.Pretrain(2);
    ASSERT_TRUE(first.SaveCheckpoint(path, 1).ok());
  }
  Trainer resumed(config_, data_, *comm_);
  resumed.Pretrain(1);  // diverge first: parameters and running statistics
  ASSERT_TRUE(resumed.LoadCheckpoint(path).ok());
  resumed.Pretrain(2);
  const auto a = straight.model()->named_parameters();
  for (const auto& item : resumed.model()->named_parameters()) {
    EXPECT_TRUE(torch::allclose(item.value(), a[item.key()], 1e-6, 1e-7)) << item.key();
  }
  const auto sb = straight.model()->named_buffers();
  for (const auto& item : resumed.model()->named_buffers()) {
    EXPECT_TRUE(torch::allclose(item.value().to(torch::kFloat64),
                                sb[item.key()].to(torch::kFloat64), 1e-6, 1e-7))
        << item.key();
  }
  // The checkpoint names its network; a job of another network refuses it, saying so.
  JobConfig other = config_;
  other.model.filter = FilterKind::kIdentity;
  Trainer wrong(other, data_, *comm_);
  const absl::StatusOr<int64_t> refused = wrong.LoadCheckpoint(path);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("iresnet18:mlp"), std::string::npos)
      << refused.status();
  // ... and the model alone (export, embed) comes back as what it is.
  absl::StatusOr<TrainedModel> trained = LoadTrainedModel(path);
  ASSERT_TRUE(trained.ok()) << trained.status();
  EXPECT_EQ(trained->preset, "iresnet18");
  EXPECT_EQ(trained->shape.filter, FilterKind::kMlp);
}

}  // namespace
}  // namespace ftl
