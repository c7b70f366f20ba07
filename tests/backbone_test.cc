// arcface_torch's backbones (the IResNets, the MobileFaceNet): its parameter counts and names,
// and the trainer on each (no decoder, the IResNet's frozen embedding batch-norm weight and the
// MobileFaceNet's trainable one, batch-norm statistics that stage 1 leaves alone, exact resume
// with the statistics in the checkpoint).
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "common/comm/device_communicator.h"
#include "common/model/ftl_model.h"
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

// Counted by scripts/iresnet_reference.py (arcface_torch's layouts in PyTorch; the CTests
// iresnet_export_end_to_end and mobilefacenet_export_end_to_end check that script prints these
// same numbers). mobilefacenet is get_mbf (blocks 1, 4, 6, 2; scale 2).
TEST(BackboneTest, ParameterCountsEqualArcFaceTorchs) {
  const std::pair<const char*, int64_t> expected[] = {{"iresnet18", 24025600},
                                                      {"iresnet34", 34139328},
                                                      {"iresnet50", 43590848},
                                                      {"iresnet100", 65156160},
                                                      {"mobilefacenet", 2059520}};
  for (const auto& [name, count] : expected) {
    absl::StatusOr<ModelShape> shape = ModelPreset(name);
    ASSERT_TRUE(shape.ok()) << name;
    EXPECT_EQ(shape->input_size, 112);
    EXPECT_EQ(shape->channels, 3);
    EXPECT_EQ(shape->feature_dim, 512);
    EXPECT_FALSE(shape->has_decoder());
    Encoder net(*shape);
    EXPECT_EQ(CountParameters(*net), count) << name;
    const torch::Tensor g = net->forward(torch::zeros({2, 3, 112, 112}));
    EXPECT_EQ(g.sizes(), (std::vector<int64_t>{2, 512}));
    if (std::string(name) != "iresnet18") continue;
    // The rest of FTL's model: no decoder, R an MLP (2 x (512 x 512 + 512) + 512 PReLU slopes).
    FtlModel model(*shape);
    EXPECT_FALSE(model->dec);
    EXPECT_EQ(CountParameters(*model->filter), 2 * (512 * 512 + 512) + 512);
    EXPECT_EQ(CountParameters(*model), count + CountParameters(*model->filter));
  }
}

// The MobileFaceNet's state_dict keys are arcface_torch's (backbones/mobilefacenet.py) under
// enc.mobilefacenet.: 333 of them, a sample checked by name and shape.
TEST(BackboneTest, MobileFaceNetNamesAreArcFaceTorchs) {
  Encoder net(*ModelPreset("mobilefacenet"));
  std::map<std::string, std::vector<int64_t>> shapes;
  for (const auto& p : net->named_parameters()) shapes[p.key()] = p.value().sizes().vec();
  for (const auto& b : net->named_buffers()) shapes[b.key()] = b.value().sizes().vec();
  EXPECT_EQ(shapes.size(), 333u);
  const std::pair<const char*, std::vector<int64_t>> expected[] = {
      {"mobilefacenet.layers.0.layers.0.weight", {128, 3, 3, 3}},
      {"mobilefacenet.layers.0.layers.2.weight", {128}},
      {"mobilefacenet.layers.1.layers.0.weight", {128, 2, 3, 3}},  // groups 64
      {"mobilefacenet.layers.2.layers.1.layers.0.weight", {128, 1, 3, 3}},
      {"mobilefacenet.layers.3.layers.3.layers.2.layers.1.running_var", {128}},
      {"mobilefacenet.layers.4.layers.2.layers.0.weight", {256, 256, 1, 1}},
      {"mobilefacenet.layers.5.layers.5.layers.0.layers.0.weight", {256, 256, 1, 1}},
      {"mobilefacenet.layers.6.layers.1.layers.0.weight", {512, 1, 3, 3}},
      {"mobilefacenet.layers.7.layers.1.layers.1.layers.2.weight", {256}},
      {"mobilefacenet.conv_sep.layers.0.weight", {512, 256, 1, 1}},
      {"mobilefacenet.features.layers.0.layers.0.weight", {512, 1, 7, 7}},
      {"mobilefacenet.features.layers.2.weight", {512, 512}},
      {"mobilefacenet.features.layers.3.running_mean", {512}},
      {"mobilefacenet.features.layers.3.num_batches_tracked", {}}};
  for (const auto& [name, sizes] : expected) {
    ASSERT_TRUE(shapes.count(name)) << name;
    EXPECT_EQ(shapes[name], sizes) << name;
  }
  EXPECT_FALSE(shapes.count("mobilefacenet.features.layers.2.bias")) << "a bias-free linear layer";
  EXPECT_TRUE(net->frozen_parameters().empty()) << "arcface_torch's mbf freezes nothing";
}

// The trainer on iresnet18 and on the MobileFaceNet (GetParam(): model.backbone).
class BackboneTrainerTest : public ::testing::TestWithParam<std::string> {
 protected:
  BackboneTrainerTest()
      : config_(testing::TinyJobConfig()),
        data_(testing::SyntheticDataset({12, 10, 9, 3, 2, 2}, 16, 3)),
        comm_(CreateLocalCommunicator()) {
    config_.preset = GetParam();
    ModelShape& m = config_.model;
    m = *ModelPreset(GetParam());
    m.input_size = 16;  // 16x16 inputs and D 16: the backbone's layers, fast enough for a unit test
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

TEST_P(BackboneTrainerTest, TrainsEveryPhaseWithoutADecoder) {
  Trainer trainer(config_, data_, *comm_);
  // The embedding batch norm's weight: fixed at 1 in an IResNet, trained in the MobileFaceNet.
  const bool iresnet = config_.model.backbone == BackboneKind::kIResNet;
  const torch::Tensor features_weight =
      iresnet ? trainer.model()->enc->frozen_parameters().at(0)
              : trainer.model()->named_parameters()["enc.mobilefacenet.features.layers.3.weight"];
  if (!iresnet) {
    EXPECT_TRUE(trainer.model()->enc->frozen_parameters().empty());
  }
  const torch::Tensor features_weight_before = features_weight.clone();
  const PhaseReport pre = trainer.Pretrain(3);
  if (!iresnet) {
    EXPECT_FALSE(torch::equal(features_weight, features_weight_before));
  }
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
  if (iresnet) {
    // arcface_torch keeps the IResNet's embedding batch-norm weight at 1.
    EXPECT_TRUE(torch::equal(features_weight, torch::ones_like(features_weight)));
    EXPECT_FALSE(features_weight.requires_grad());
  }
  const PhaseReport evaluation = trainer.Evaluate();
  EXPECT_GE(evaluation.metrics.at("train_top1_regular"), 0.0);
}

TEST_P(BackboneTrainerTest, ResumeEqualsContinuingWithBatchNormStatistics) {
  const std::string path = ::testing::TempDir() + "/" + GetParam() + "_resume.ftlckpt";
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
  EXPECT_NE(refused.status().message().find(GetParam() + ":mlp"), std::string::npos)
      << refused.status();
  // ... and the model alone (export, embed) comes back as what it is.
  absl::StatusOr<TrainedModel> trained = LoadTrainedModel(path);
  ASSERT_TRUE(trained.ok()) << trained.status();
  EXPECT_EQ(trained->preset, GetParam());
  EXPECT_EQ(trained->shape.backbone, config_.model.backbone);
  EXPECT_EQ(trained->shape.filter, FilterKind::kMlp);
}

INSTANTIATE_TEST_SUITE_P(ArcFaceTorch, BackboneTrainerTest,
                         ::testing::Values("iresnet18", "mobilefacenet"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

}  // namespace
}  // namespace ftl
