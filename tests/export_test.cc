// common/export and common/train/trained_model: the TorchScript embedding module computes exactly
// the trainer's features (on g and on f = R(g)), survives save/load, checks its input, and a
// checkpoint's model is found without the job's config.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "common/comm/communicator.h"
#include "common/data/image_decode.h"
#include "common/export/embedding_file.h"
#include "common/export/embedding_module.h"
#include "common/train/trained_model.h"
#include "common/train/trainer.h"
#include "tests/temp_dir.h"
#include "tests/test_util.h"

namespace ftl {
namespace {

ModelShape Small32() {
  ModelShape shape = *ModelPreset("small");
  shape.input_size = 32;
  return shape;
}

// The trainer's own feature extraction: uint8 / 255 into Enc (and R).
torch::Tensor Reference(FtlModel& model, const torch::Tensor& images, bool filtered) {
  torch::NoGradGuard no_grad;
  torch::Tensor g = model->enc->forward(images.to(torch::kFloat32).div(255.0));
  torch::Tensor out = filtered ? model->filter->forward(g) : g;
  return torch::nn::functional::normalize(out,
                                          torch::nn::functional::NormalizeFuncOptions().dim(1));
}

torch::Tensor Embed(torch::jit::Module& module, const torch::Tensor& images) {
  torch::NoGradGuard no_grad;
  return module.forward({images}).toTensor();
}

TEST(EmbeddingModuleTest, EqualsTheTrainersFeaturesOnGAndF) {
  torch::manual_seed(5);
  FtlModel model(Small32());
  model->eval();
  const torch::Tensor images = torch::randint(0, 256, {6, 1, 32, 32}).to(torch::kUInt8);
  for (FeatureLayer layer : {FeatureLayer::kG, FeatureLayer::kF}) {
    EmbeddingModuleOptions options;
    options.features = layer;
    absl::StatusOr<torch::jit::Module> module = BuildEmbeddingModule(model, Small32(), options);
    ASSERT_TRUE(module.ok()) << module.status();
    const torch::Tensor want = Reference(model, images, layer == FeatureLayer::kF);
    const torch::Tensor got = Embed(*module, images);
    ASSERT_EQ(got.sizes(), want.sizes());
    EXPECT_LT((got - want).abs().max().item<double>(), 1e-5);
    EXPECT_NEAR(got.norm(2, 1).min().item<double>(), 1.0, 1e-5);
    // Saved and loaded back (what torch.jit.load reads), with its attributes.
    const std::string path = testing::FreshDir("export") + "/encoder.pt";
    module->save(path);
    EmbeddingModuleInfo info;
    absl::StatusOr<torch::jit::Module> loaded = LoadEmbeddingModule(path, &info);
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    EXPECT_LT((Embed(*loaded, images) - want).abs().max().item<double>(), 1e-5);
    EXPECT_EQ(info.input_size, 32);
    EXPECT_EQ(info.channels, 1);
    EXPECT_EQ(info.feature_dim, 128);
    EXPECT_EQ(info.features, layer == FeatureLayer::kF ? "f" : "g");
  }
}

// On real faces (Extended Yale B, decoded as training decodes them), through a saved and reloaded
// module: the trainer's feature extraction to 1e-5.
TEST(EmbeddingModuleTest, EqualsTheTrainersFeaturesOnRealFaces) {
  torch::manual_seed(8);
  FtlModel model(Small32());
  model->eval();
  ImageOptions options;
  options.size = 32;
  options.channels = 1;
  std::vector<torch::Tensor> faces;
  for (const auto& person : std::filesystem::directory_iterator(FTL_DATA_ROOT "/yaleb-cropped")) {
    if (!person.is_directory()) continue;
    for (const auto& file : std::filesystem::directory_iterator(person.path())) {
      absl::StatusOr<torch::Tensor> face = ReadImageFile(file.path().string(), options);
      if (face.ok()) faces.push_back(*face);
      if (faces.size() % 4 == 0 && !faces.empty()) break;
    }
    if (faces.size() >= 16) break;
  }
  ASSERT_GE(faces.size(), 16u);
  const torch::Tensor images = torch::stack(faces);
  EmbeddingModuleOptions export_options;
  export_options.features = FeatureLayer::kF;
  absl::StatusOr<torch::jit::Module> module =
      BuildEmbeddingModule(model, Small32(), export_options);
  ASSERT_TRUE(module.ok()) << module.status();
  const std::string path = testing::FreshDir("real_faces") + "/encoder.pt";
  module->save(path);
  absl::StatusOr<torch::jit::Module> loaded = LoadEmbeddingModule(path, nullptr);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_LT((Embed(*loaded, images) - Reference(model, images, true)).abs().max().item<double>(),
            1e-5);
}

TEST(EmbeddingModuleTest, PaperPresetInColourToo) {
  torch::manual_seed(6);
  ModelShape shape = *ModelPreset("paper");
  shape.input_size = 40;
  FtlModel model(shape);
  model->eval();
  const torch::Tensor images = torch::randint(0, 256, {2, 3, 40, 40}).to(torch::kUInt8);
  EmbeddingModuleOptions options;
  options.features = FeatureLayer::kF;
  absl::StatusOr<torch::jit::Module> module = BuildEmbeddingModule(model, shape, options);
  ASSERT_TRUE(module.ok()) << module.status();
  EXPECT_LT((Embed(*module, images) - Reference(model, images, true)).abs().max().item<double>(),
            1e-5);
}

// arcface_torch's backbones in eval mode, with batch-norm statistics other than the defaults: the
// module computes the trainer's g and f (the MobileFaceNet's grouped convolutions written with
// their groups, its GDC's bias-free linear layer and BatchNorm1d).
TEST(EmbeddingModuleTest, ArcFaceTorchBackbonesToo) {
  for (const char* backbone : {"iresnet18", "mobilefacenet"}) {
    torch::manual_seed(7);
    ModelShape shape = *ModelPreset(backbone);
    shape.input_size = 32;  // the MobileFaceNet's GDC kernel 2x2
    shape.feature_dim = 16;
    FtlModel model(shape);
    {
      torch::NoGradGuard no_grad;
      for (torch::Tensor& b : model->buffers()) {
        if (b.is_floating_point()) b.uniform_(0.5, 1.5);  // running means and variances
      }
    }
    model->eval();
    const torch::Tensor images = torch::randint(0, 256, {3, 3, 32, 32}).to(torch::kUInt8);
    for (FeatureLayer layer : {FeatureLayer::kG, FeatureLayer::kF}) {
      EmbeddingModuleOptions options;
      options.features = layer;
      absl::StatusOr<torch::jit::Module> module = BuildEmbeddingModule(model, shape, options);
      ASSERT_TRUE(module.ok()) << backbone << ": " << module.status();
      const torch::Tensor want = Reference(model, images, layer == FeatureLayer::kF);
      EXPECT_LT((Embed(*module, images) - want).abs().max().item<double>(), 1e-4) << backbone;
    }
  }
}

TEST(EmbeddingModuleTest, WrongDtypeOrShapeIsAClearError) {
  FtlModel model(Small32());
  absl::StatusOr<torch::jit::Module> module = BuildEmbeddingModule(model, Small32(), {});
  ASSERT_TRUE(module.ok()) << module.status();
  const auto message = [&](const torch::Tensor& input) -> std::string {
    try {
      Embed(*module, input);
    } catch (const std::exception& e) {  // torch::jit::JITException from the script's assert
      return e.what();
    }
    return "";
  };
  EXPECT_NE(message(torch::zeros({2, 1, 32, 32})).find("expected uint8 images [N, 1, 32, 32]"),
            std::string::npos);
  EXPECT_NE(message(torch::zeros({2, 3, 32, 32}, torch::kUInt8)).find("got shape"),
            std::string::npos);
  EXPECT_NE(message(torch::zeros({2, 1, 64, 64}, torch::kUInt8)).find("got shape"),
            std::string::npos);
}

TEST(TrainedModelTest, FindsThePresetAndWeightsWithoutTheConfig) {
  JobConfig config = testing::TinyJobConfig();
  config.preset = "small";
  config.model = Small32();
  const Dataset data = testing::SyntheticDataset({6, 6, 4}, 32);
  std::unique_ptr<Communicator> comm = CreateLocalCommunicator();
  Trainer trainer(config, data, *comm);
  const std::string dir = testing::FreshDir("trained");
  ASSERT_TRUE(trainer.SaveCheckpoint(dir + "/ckpt-000001.ftlckpt", 1).ok());
  absl::StatusOr<TrainedModel> loaded = LoadTrainedModel(dir);  // the folder: its newest
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->preset, "small");
  EXPECT_EQ(loaded->num_classes, 3);
  EXPECT_EQ(loaded->shape.input_size, 32);
  const auto want = trainer.model()->named_parameters();
  for (const auto& p : loaded->model->named_parameters()) {
    EXPECT_TRUE(torch::equal(p.value(), want[p.key()])) << p.key();
  }
}

TEST(TrainedModelTest, ForeignAndOddCheckpointsAreRefusedClearly) {
  const std::string dir = testing::FreshDir("foreign");
  std::ofstream(dir + "/not.ftlckpt") << "hello";
  absl::StatusOr<TrainedModel> foreign = LoadTrainedModel(dir + "/not.ftlckpt");
  ASSERT_FALSE(foreign.ok());
  EXPECT_NE(foreign.status().message().find("not.ftlckpt"), std::string::npos);
  EXPECT_EQ(LoadTrainedModel(dir + "/absent.ftlckpt").status().code(), absl::StatusCode::kNotFound);
  // Layers of no preset (the tests' tiny model): the file's weights do not fit what it names.
  const JobConfig tiny = testing::TinyJobConfig();
  const Dataset data = testing::SyntheticDataset({4, 4});
  std::unique_ptr<Communicator> comm = CreateLocalCommunicator();
  Trainer trainer(tiny, data, *comm);
  ASSERT_TRUE(trainer.SaveCheckpoint(dir + "/tiny.ftlckpt", 1).ok());
  absl::StatusOr<TrainedModel> odd = LoadTrainedModel(dir + "/tiny.ftlckpt");
  ASSERT_FALSE(odd.ok());
  EXPECT_EQ(odd.status().code(), absl::StatusCode::kDataLoss) << odd.status();
  EXPECT_NE(odd.status().message().find("do not fit its network 'small:paper'"), std::string::npos)
      << odd.status();
}

// model.init_from: Enc, Dec, R from another job's checkpoint (or Enc, R from a safetensors export),
// with a fresh classifier for this job's identities; other layers are refused naming both.
TEST(FineTuneTest, TakesTrainedLayersAndKeepsAFreshClassifier) {
  JobConfig config = testing::TinyJobConfig();
  config.preset = "small";
  config.model = Small32();
  std::unique_ptr<Communicator> comm = CreateLocalCommunicator();
  const Dataset first = testing::SyntheticDataset({6, 6, 4}, 32, 1, 3);
  Trainer source(config, first, *comm);
  source.Pretrain(3);
  const std::string dir = testing::FreshDir("finetune");
  ASSERT_TRUE(source.SaveCheckpoint(dir + "/ckpt-000001.ftlckpt", 1).ok());
  EmbeddingModuleOptions options;
  options.features = FeatureLayer::kF;
  ASSERT_TRUE(WriteEmbeddingFile(source.model(), config.preset, config.model, options,
                                 dir + "/encoder.safetensors")
                  .ok());

  const Dataset second = testing::SyntheticDataset({5, 5, 5, 5, 3}, 32, 1, 9);  // other identities
  const auto want = source.model()->named_parameters();
  {
    Trainer tuned(config, second, *comm);
    const torch::Tensor fresh_classifier = testing::ClassifierWeight(tuned.classifier()).clone();
    ASSERT_TRUE(tuned.FineTuneFrom(dir).ok());
    for (const auto& p : tuned.model()->named_parameters()) {
      EXPECT_TRUE(torch::equal(p.value(), want[p.key()])) << p.key();
    }
    EXPECT_EQ(tuned.classifier().num_classes(), 5);
    EXPECT_TRUE(torch::equal(testing::ClassifierWeight(tuned.classifier()), fresh_classifier));
  }
  {
    Trainer tuned(config, second, *comm);
    const torch::Tensor fresh_decoder = tuned.model()->dec->parameters().front().clone();
    ASSERT_TRUE(tuned.FineTuneFrom(dir + "/encoder.safetensors").ok());
    for (const auto& p : tuned.model()->named_parameters()) {
      if (p.key().rfind("enc.", 0) == 0 || p.key().rfind("filter.", 0) == 0) {
        EXPECT_TRUE(torch::equal(p.value(), want[p.key()])) << p.key();
      }
    }
    EXPECT_TRUE(torch::equal(tuned.model()->dec->parameters().front(), fresh_decoder));
  }
  JobConfig other = config;
  other.model.input_size = 64;  // the same preset at another size
  Trainer mismatched(other, testing::SyntheticDataset({4, 4}, 64), *comm);
  const absl::Status refused = mismatched.FineTuneFrom(dir);
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.message().find("32x32x1"), std::string::npos) << refused;
  EXPECT_NE(refused.message().find("64x64x1"), std::string::npos) << refused;
  EXPECT_EQ(mismatched.FineTuneFrom(dir + "/absent").code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace ftl
