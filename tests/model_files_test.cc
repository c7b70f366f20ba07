// Model files are data, never code (issue 29). A TorchScript module runs code while it loads (its
// __setstate__), and a crafted one named in a job used to run inside the worker: it copied the
// coordinator's TLS key into the job's weights. Here such a module, as such an attacker would make
// it, writes over a "victim" file when it runs; every way a job names a model file (init_from,
// init_checkpoint, resume, the export tools' checkpoint reader) must refuse it with the victim
// untouched. On the code before the fix, init_from ran it (torch::jit::load) and so did a
// checkpoint frame around it (LibTorch's InputArchive is torch::jit::load too).
#include <gtest/gtest.h>
#include <torch/script.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>

#include "common/checkpoint/safetensors.h"
#include "common/comm/communicator.h"
#include "common/export/embedding_file.h"
#include "common/train/trained_model.h"
#include "common/train/trainer.h"
#include "tests/temp_dir.h"
#include "tests/test_util.h"

namespace ftl {
namespace {

constexpr int kVictimBytes = 16;

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// The module carries the attributes `ftl export` writes, so that a reader that checks them is
// satisfied; its __setstate__ maps `victim` shared (torch.from_file) and fills it with 'X'.
void WriteCraftedModule(const std::string& path, const std::string& victim) {
  torch::jit::Module m("__torch__.Crafted");
  m.register_attribute("input_size", c10::IntType::get(), int64_t{32});
  m.register_attribute("channels", c10::IntType::get(), int64_t{1});
  m.register_attribute("feature_dim", c10::IntType::get(), int64_t{16});
  m.register_attribute("feature_layer", c10::StringType::get(), std::string("g"));
  m.define(
      absl::StrCat("def __getstate__(self) -> int:\n"
                   "    return self.input_size\n"
                   "def __setstate__(self, state: int) -> None:\n"
                   "    t = torch.from_file(\"",
                   victim, "\", True, ", kVictimBytes,
                   ", dtype=0)\n"
                   "    t.fill_(88)\n"
                   "    print(t.sum())\n"  // keeps the write from being optimised away
                   "    self.input_size = state\n"
                   "    self.channels = 1\n"
                   "    self.feature_dim = 16\n"
                   "    self.feature_layer = \"g\"\n"
                   "def forward(self, x: Tensor) -> Tensor:\n"
                   "    return x\n"));
  m.save(path);
}

std::string Framed(const char* magic, const std::string& payload) {
  std::string file = magic;
  for (int i = 0; i < 8; ++i)
    file.push_back(static_cast<char>((uint64_t{payload.size()} >> (8 * i)) & 0xff));
  const uLong crc = crc32(crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(payload.data()),
                          static_cast<uInt>(payload.size()));
  for (int i = 0; i < 4; ++i) file.push_back(static_cast<char>((crc >> (8 * i)) & 0xff));
  return file + payload;
}

class ModelFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::FreshDir("model_files");
    victim_ = dir_ + "/victim";
    std::ofstream(victim_, std::ios::binary) << std::string(kVictimBytes, '\0');
    crafted_ = dir_ + "/crafted.pt";
    WriteCraftedModule(crafted_, victim_);
    config_ = testing::TinyJobConfig();
    config_.preset = "small";  // exports name a preset's layers
    config_.model = *ModelPreset("small");
    config_.model.input_size = 32;
  }

  // Whether the crafted code ran (the victim is no longer zeros).
  bool CodeRan() const { return Slurp(victim_) != std::string(kVictimBytes, '\0'); }

  // The probe must be able to fail: loading the module itself does run its code.
  void ExpectTheModuleIsLive() {
    torch::jit::load(crafted_);
    ASSERT_TRUE(CodeRan()) << "the crafted module no longer runs code: the tests prove nothing";
    std::ofstream(victim_, std::ios::binary | std::ios::trunc) << std::string(kVictimBytes, '\0');
  }

  std::string dir_, victim_, crafted_;
  JobConfig config_;
  Dataset dataset_ = testing::SyntheticDataset({4, 4}, 32);
  std::unique_ptr<Communicator> comm_ = CreateLocalCommunicator();
};

TEST_F(ModelFilesTest, InitFromACraftedModuleIsRefusedUnrun) {
  ExpectTheModuleIsLive();
  Trainer trainer(config_, dataset_, *comm_);
  const absl::Status status = trainer.FineTuneFrom(crafted_);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_NE(status.message().find("TorchScript module, which is code"), std::string::npos)
      << status;
  EXPECT_NE(status.message().find("--format safetensors"), std::string::npos) << status;
  EXPECT_FALSE(CodeRan());
}

// The attack's second form: the module inside a checkpoint frame with a recomputed CRC, named as
// init_checkpoint, as a resume file, as init_from, or given to export/embed (LoadTrainedModel).
TEST_F(ModelFilesTest, ACraftedModuleFramedAsACheckpointIsRefusedUnrun) {
  ExpectTheModuleIsLive();
  const std::string module = Slurp(crafted_);
  for (const char* magic : {"FTLCKPT1", "FTLCKPT2"}) {
    const std::string path = dir_ + "/" + magic + ".ftlckpt";
    std::ofstream(path, std::ios::binary) << Framed(magic, module);
    Trainer trainer(config_, dataset_, *comm_);
    const std::vector<std::pair<const char*, absl::Status>> reads = {
        {"init_checkpoint", trainer.InitializeFrom(path)},
        {"resume", trainer.LoadCheckpoint(path).status()},
        {"init_from", trainer.FineTuneFrom(path)},
        {"export", LoadTrainedModel(path).status()}};
    for (const auto& [what, status] : reads) {
      EXPECT_FALSE(status.ok()) << magic << " " << what;
      EXPECT_FALSE(CodeRan()) << magic << " " << what;
      // Format 1 is refused by its frame, format 2's payload is not safetensors.
      const bool explained =
          std::string(status.message())
              .find(std::string(magic) == "FTLCKPT1" ? "format 1" : "safetensors") !=
          std::string::npos;
      EXPECT_TRUE(explained) << magic << " " << what << ": " << status;
    }
  }
}

// The code-free route works: an export as safetensors starts a job with the layers it holds.
TEST_F(ModelFilesTest, AnExportInSafetensorsFineTunesWithItsLayers) {
  Trainer source(config_, dataset_, *comm_);
  source.Pretrain(2);
  EmbeddingModuleOptions options;
  options.features = FeatureLayer::kF;
  const std::string path = dir_ + "/encoder.safetensors";
  ASSERT_TRUE(
      WriteEmbeddingFile(source.model(), config_.preset, config_.model, options, path).ok());
  EXPECT_EQ(SniffModelFile(path), ModelFileKind::kSafetensors);
  EXPECT_EQ(SniffModelFile(crafted_), ModelFileKind::kTorchScript);
  Trainer tuned(config_, testing::SyntheticDataset({3, 3, 3}, 32, 1, 9), *comm_);
  const torch::Tensor fresh_classifier = testing::ClassifierWeight(tuned.classifier()).clone();
  const torch::Tensor fresh_decoder = tuned.model()->dec->parameters().front().clone();
  ASSERT_TRUE(tuned.FineTuneFrom(path).ok());
  const auto want = source.model()->named_parameters();
  int compared = 0;
  for (const auto& p : tuned.model()->named_parameters()) {
    if (p.key().rfind("enc.", 0) == 0 || p.key().rfind("filter.", 0) == 0) {
      EXPECT_TRUE(torch::equal(p.value(), want[p.key()])) << p.key();
      ++compared;
    }
  }
  EXPECT_GT(compared, 4);
  EXPECT_TRUE(torch::equal(testing::ClassifierWeight(tuned.classifier()), fresh_classifier));
  EXPECT_TRUE(torch::equal(tuned.model()->dec->parameters().front(), fresh_decoder));
}

// A damaged export names the layer; weights of another network are refused naming both shapes.
TEST_F(ModelFilesTest, AnExportWhoseWeightsDoNotFitIsRefusedNamingTheLayer) {
  Trainer source(config_, dataset_, *comm_);
  EmbeddingModuleOptions options;
  const std::string path = dir_ + "/encoder.safetensors";
  ASSERT_TRUE(
      WriteEmbeddingFile(source.model(), config_.preset, config_.model, options, path).ok());
  absl::StatusOr<NamedTensors> contents = ReadSafetensorsFile(path);
  ASSERT_TRUE(contents.ok());
  const std::string layer = contents->tensors.begin()->first;
  contents->tensors[layer] = torch::zeros({3});
  ASSERT_TRUE(WriteSafetensorsFile(path, *contents).ok());
  const absl::StatusOr<EmbeddingFile> read = ReadEmbeddingFile(path);
  EXPECT_EQ(read.status().code(), absl::StatusCode::kDataLoss) << read.status();
  EXPECT_NE(read.status().message().find(layer), std::string::npos) << read.status();
  Trainer tuned(config_, dataset_, *comm_);
  EXPECT_FALSE(tuned.FineTuneFrom(path).ok());
}

}  // namespace
}  // namespace ftl
