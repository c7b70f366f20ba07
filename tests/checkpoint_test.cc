#include <gtest/gtest.h>
#include <zlib.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "common/checkpoint/checkpoint_file.h"

namespace ftl {
namespace {

namespace fs = std::filesystem;

std::string WriteSample(const std::string& name) {
  const std::string path = ::testing::TempDir() + "/" + name;
  NamedTensors contents;
  contents.tensors["weights"] = torch::arange(1000, torch::kFloat32);
  contents.metadata["note"] = "sample";
  EXPECT_TRUE(WriteCheckpointFile(path, contents).ok());
  return path;
}

// A payload in a frame with a valid length and CRC (what an attacker can always make).
std::string Framed(const char* magic, const std::string& payload) {
  std::string file = magic;
  for (int i = 0; i < 8; ++i)
    file.push_back(static_cast<char>((uint64_t{payload.size()} >> (8 * i)) & 0xff));
  const uLong crc = crc32(crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(payload.data()),
                          static_cast<uInt>(payload.size()));
  for (int i = 0; i < 4; ++i) file.push_back(static_cast<char>((crc >> (8 * i)) & 0xff));
  return file + payload;
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(CheckpointFileTest, RoundTrips) {
  const std::string path = WriteSample("round.ftlckpt");
  absl::StatusOr<NamedTensors> read = ReadCheckpointFile(path);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_TRUE(torch::equal(read->tensors.at("weights"), torch::arange(1000, torch::kFloat32)));
  EXPECT_EQ(read->metadata.at("note"), "sample");
  EXPECT_FALSE(fs::exists(path + ".tmp." + std::to_string(::getpid())));
}

TEST(CheckpointFileTest, TruncatedFileIsRefused) {
  const std::string path = WriteSample("truncated.ftlckpt");
  const std::string bytes = Slurp(path);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes.substr(0, bytes.size() / 2);
  const absl::Status status = ReadCheckpointFile(path).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
  EXPECT_NE(status.message().find("truncated"), std::string::npos);
}

TEST(CheckpointFileTest, FlippedByteIsRefused) {
  const std::string path = WriteSample("flipped.ftlckpt");
  std::string bytes = Slurp(path);
  bytes[bytes.size() - 100] ^= 0x40;
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  const absl::Status status = ReadCheckpointFile(path).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(status.message().find("checksum"), std::string::npos);
}

TEST(CheckpointFileTest, ForeignFileIsRefused) {
  const std::string path = ::testing::TempDir() + "/foreign.ftlckpt";
  std::ofstream(path) << "PK\x03\x04 some zip file";
  const absl::Status status = ReadCheckpointFile(path).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("not an FTL checkpoint"), std::string::npos);
  EXPECT_EQ(ReadCheckpointFile(path + ".missing").status().code(), absl::StatusCode::kNotFound);
}

// Format 1 framed a LibTorch archive (a TorchScript module, whose code runs as it loads): such a
// file is refused by its magic, with why, whatever it holds and however valid its CRC.
TEST(CheckpointFileTest, FormatOneArchivesAreRefusedUnopened) {
  const std::string path = ::testing::TempDir() + "/format1.ftlckpt";
  std::ofstream(path, std::ios::binary) << Framed("FTLCKPT1", "PK\x03\x04 an archive");
  const absl::Status status = ReadCheckpointFile(path).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_NE(status.message().find("format 1"), std::string::npos) << status;
  EXPECT_NE(status.message().find("code"), std::string::npos) << status;
}

// Behind a valid CRC the payload is parsed as safetensors, never as an archive: a zip there (or
// the fuzzer's old regression input) is DataLoss.
TEST(CheckpointFileTest, DamagedPayloadInsideAValidFrameIsRefused) {
  const std::string seed = Slurp(std::string(FTL_SOURCE_DIR) +
                                 "/tests/fuzz/corpus/fuzz_checkpoint/regress-6cbc67456791");
  ASSERT_GT(seed.size(), 1u);
  for (const std::string& payload : {seed.substr(1), std::string("PK\x03\x04 an archive")}) {
    const std::string path = ::testing::TempDir() + "/framed_bad.ftlckpt";
    std::ofstream(path, std::ios::binary | std::ios::trunc) << Framed("FTLCKPT2", payload);
    const absl::Status status = ReadCheckpointFile(path).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
    EXPECT_NE(status.message().find("safetensors"), std::string::npos) << status;
  }
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

// A worker killed mid-write leaves a temp file; an old one is removed, a fresh one (a write that
// may still be under way) is not.
TEST(CheckpointFileTest, PruneRemovesOldTornWritesOnly) {
  const std::string dir = ::testing::TempDir() + "/torn";
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string old_temp = dir + "/ckpt-000003.ftlckpt.tmp.4242";
  const std::string fresh_temp = dir + "/ckpt-000004.ftlckpt.tmp.4343";
  const std::string other = dir + "/notes.tmp.1";
  for (const std::string& path : {old_temp, fresh_temp, other}) std::ofstream(path) << "x";
  fs::last_write_time(old_temp, fs::file_time_type::clock::now() - std::chrono::hours(1));
  fs::last_write_time(other, fs::file_time_type::clock::now() - std::chrono::hours(1));
  fs::create_symlink("loop", dir + "/loop");  // an entry that cannot be examined
  PruneCheckpoints(dir, 2);
  EXPECT_FALSE(fs::exists(old_temp));
  EXPECT_TRUE(fs::exists(fresh_temp));
  EXPECT_TRUE(fs::exists(other));
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
    NamedTensors contents;
    contents.tensors["position"] = torch::tensor({int64_t{position}});
    ASSERT_TRUE(WriteCheckpointFile(CheckpointFileName(dir, position), contents).ok());
  }
  // The newest is torn.
  const std::string newest = CheckpointFileName(dir, 9);
  const std::string bytes = Slurp(newest);
  std::ofstream(newest, std::ios::binary | std::ios::trunc) << bytes.substr(0, bytes.size() / 2);
  std::vector<std::string> tried;
  int64_t loaded_position = -1;
  auto load = [&](const std::string& file) -> absl::Status {
    tried.push_back(file);
    absl::StatusOr<NamedTensors> read = ReadCheckpointFile(file);
    if (!read.ok()) return read.status();
    loaded_position = read->tensors.at("position").item<int64_t>();
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
