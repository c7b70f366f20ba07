#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "common/util/file.h"

namespace ftl {
namespace {

namespace fs = std::filesystem;

TEST(FileTest, WritesAtomicallyAndReadsBack) {
  const std::string path = ::testing::TempDir() + "/atomic.txt";
  ASSERT_TRUE(WriteFileAtomically(path, "old contents\n").ok());
  std::string binary("a\0b\xff", 4);
  ASSERT_TRUE(WriteFileAtomically(path, binary).ok());
  absl::StatusOr<std::string> read = ReadFileToString(path);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, binary);
  EXPECT_FALSE(fs::exists(path + ".tmp." + std::to_string(::getpid())));
}

TEST(FileTest, FailedWriteLeavesTheOldFileAndNoTemporary) {
  const std::string dir = ::testing::TempDir() + "/atomic_dir";
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string path = dir + "/keep.txt";
  ASSERT_TRUE(WriteFileAtomically(path, "kept").ok());
  // A folder in the way of the rename: the write fails and the folder's contents stay as they were.
  const std::string blocked = dir + "/blocked";
  fs::create_directories(blocked + "/inside");
  const absl::Status failed = WriteFileAtomically(blocked, "new");
  EXPECT_EQ(failed.code(), absl::StatusCode::kInternal);
  EXPECT_NE(failed.message().find("rename"), std::string::npos) << failed;
  EXPECT_TRUE(fs::is_directory(blocked));
  EXPECT_FALSE(fs::exists(blocked + ".tmp." + std::to_string(::getpid())));
  const absl::StatusOr<std::string> kept = ReadFileToString(path);
  ASSERT_TRUE(kept.ok()) << kept.status();
  EXPECT_EQ(*kept, "kept");
  // A missing folder: cannot create the temporary.
  EXPECT_EQ(WriteFileAtomically(dir + "/no/such/dir/file", "x").code(),
            absl::StatusCode::kInternal);
}

TEST(FileTest, MissingFileIsNotFound) {
  const absl::StatusOr<std::string> read = ReadFileToString(::testing::TempDir() + "/no_such_file");
  EXPECT_EQ(read.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(read.status().message().find("no_such_file"), std::string::npos);
}

}  // namespace
}  // namespace ftl
