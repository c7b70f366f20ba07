#include <gtest/gtest.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>

#include "common/checkpoint/checkpoint_file.h"

namespace ftl {
namespace {

namespace fs = std::filesystem;

std::string WriteSample(const std::string& name) {
  const std::string path = ::testing::TempDir() + "/" + name;
  torch::serialize::OutputArchive archive;
  archive.write("weights", torch::arange(1000, torch::kFloat32));
  EXPECT_TRUE(WriteCheckpointFile(path, archive).ok());
  return path;
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(CheckpointFileTest, RoundTrips) {
  const std::string path = WriteSample("round.ftlckpt");
  torch::serialize::InputArchive archive;
  ASSERT_TRUE(ReadCheckpointFile(path, &archive).ok());
  torch::Tensor weights;
  archive.read("weights", weights);
  EXPECT_TRUE(torch::equal(weights, torch::arange(1000, torch::kFloat32)));
  EXPECT_FALSE(fs::exists(path + ".tmp." + std::to_string(::getpid())));
}

TEST(CheckpointFileTest, TruncatedFileIsRefused) {
  const std::string path = WriteSample("truncated.ftlckpt");
  const std::string bytes = Slurp(path);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes.substr(0, bytes.size() / 2);
  torch::serialize::InputArchive archive;
  const absl::Status status = ReadCheckpointFile(path, &archive);
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
  EXPECT_NE(status.message().find("truncated"), std::string::npos);
}

TEST(CheckpointFileTest, FlippedByteIsRefused) {
  const std::string path = WriteSample("flipped.ftlckpt");
  std::string bytes = Slurp(path);
  bytes[bytes.size() - 100] ^= 0x40;
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  torch::serialize::InputArchive archive;
  const absl::Status status = ReadCheckpointFile(path, &archive);
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(status.message().find("checksum"), std::string::npos);
}

TEST(CheckpointFileTest, ForeignFileIsRefused) {
  const std::string path = ::testing::TempDir() + "/foreign.ftlckpt";
  std::ofstream(path) << "PK\x03\x04 some zip file";
  torch::serialize::InputArchive archive;
  const absl::Status status = ReadCheckpointFile(path, &archive);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("not an FTL checkpoint"), std::string::npos);
  EXPECT_EQ(ReadCheckpointFile(path + ".missing", &archive).code(), absl::StatusCode::kNotFound);
}

// Found by fuzzing (the input is kept as a regression seed): inside a valid frame, a damaged
// archive made LibTorch throw torch::jit::ErrorReport, not c10::Error; it escaped and aborted.
TEST(CheckpointFileTest, DamagedArchiveInsideAValidFrameIsRefused) {
  const std::string seed = Slurp(std::string(FTL_SOURCE_DIR) +
                                 "/tests/fuzz/corpus/fuzz_checkpoint/regress-6cbc67456791");
  ASSERT_GT(seed.size(), 1u);
  const std::string payload = seed.substr(1);  // byte 0 = 1: the fuzz target's framed mode
  std::string file = "FTLCKPT1";
  for (int i = 0; i < 8; ++i)
    file.push_back(static_cast<char>((uint64_t{payload.size()} >> (8 * i)) & 0xff));
  const uLong crc = crc32(crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(payload.data()),
                          static_cast<uInt>(payload.size()));
  for (int i = 0; i < 4; ++i) file.push_back(static_cast<char>((crc >> (8 * i)) & 0xff));
  file += payload;
  const std::string path = ::testing::TempDir() + "/framed_bad.ftlckpt";
  std::ofstream(path, std::ios::binary) << file;
  torch::serialize::InputArchive archive;
  const absl::Status status = ReadCheckpointFile(path, &archive);
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
}

TEST(CheckpointFileTest, PruneKeepsTheNewest) {
  const std::string dir = ::testing::TempDir() + "/prune";
  fs::remove_all(dir);
  fs::create_directories(dir);
  for (const char* name : {"ckpt-000001.ftlckpt", "ckpt-000005.ftlckpt", "ckpt-000009.ftlckpt"}) {
    std::ofstream(dir + "/" + name) << "x";
  }
  PruneCheckpoints(dir, 2);
  const std::vector<std::string> left = ListCheckpoints(dir);
  ASSERT_EQ(left.size(), 2u);
  EXPECT_EQ(fs::path(left[0]).filename(), "ckpt-000005.ftlckpt");
}

TEST(CheckpointFileTest, FileNameOrdersByPosition) {
  EXPECT_EQ(CheckpointFileName("/jobs/a", 7), "/jobs/a/ckpt-000007.ftlckpt");
  // Names sort as positions do, so ListCheckpoints' last is the latest.
  EXPECT_LT(CheckpointFileName("d", 99), CheckpointFileName("d", 100));
}

TEST(CheckpointFileTest, LoadNewestSkipsDamagedFilesAndSaysWhichLoaded) {
  const std::string dir = ::testing::TempDir() + "/newest";
  fs::remove_all(dir);
  fs::create_directories(dir);
  for (int position : {1, 5, 9}) {
    torch::serialize::OutputArchive archive;
    archive.write("position", torch::tensor({int64_t{position}}));
    ASSERT_TRUE(WriteCheckpointFile(CheckpointFileName(dir, position), archive).ok());
  }
  // The newest is torn.
  const std::string newest = CheckpointFileName(dir, 9);
  const std::string bytes = Slurp(newest);
  std::ofstream(newest, std::ios::binary | std::ios::trunc) << bytes.substr(0, bytes.size() / 2);
  std::vector<std::string> tried;
  int64_t loaded_position = -1;
  auto load = [&](const std::string& file) -> absl::Status {
    tried.push_back(file);
    torch::serialize::InputArchive archive;
    if (absl::Status s = ReadCheckpointFile(file, &archive); !s.ok()) return s;
    torch::Tensor position;
    archive.read("position", position);
    loaded_position = position.item<int64_t>();
    return absl::OkStatus();
  };
  absl::StatusOr<std::string> used = LoadNewestCheckpoint(dir, load);
  ASSERT_TRUE(used.ok()) << used.status();
  EXPECT_EQ(*used, CheckpointFileName(dir, 5));
  EXPECT_EQ(loaded_position, 5);
  EXPECT_EQ(tried, (std::vector<std::string>{newest, CheckpointFileName(dir, 5)}));
  // A file is loaded as itself, damaged or not: its own error comes back.
  tried.clear();
  const absl::StatusOr<std::string> direct = LoadNewestCheckpoint(newest, load);
  EXPECT_EQ(direct.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(tried.size(), 1u);
  // Nothing loads: the last error; nothing there: NotFound.
  EXPECT_FALSE(
      LoadNewestCheckpoint(dir, [](const std::string&) { return absl::DataLossError("x"); }).ok());
  const std::string empty = ::testing::TempDir() + "/newest_empty";
  fs::create_directories(empty);
  EXPECT_EQ(LoadNewestCheckpoint(empty, load).status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace ftl
