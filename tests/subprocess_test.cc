// Child processes from argument vectors: output, exit status, start failures, and that nothing
// passes through a shell.
#include "common/util/subprocess.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "common/util/file.h"

namespace ftl {
namespace {

namespace fs = std::filesystem;

int Wait(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(RunProcessTest, StreamsLinesAndReportsTheExitStatus) {
  std::vector<std::string> lines;
  ASSERT_TRUE(RunProcess({"sh", "-c", "echo one; echo two >&2; printf three"},
                         [&](const std::string& line) { lines.push_back(line); })
                  .ok());
  EXPECT_EQ(lines, (std::vector<std::string>{"one\n", "two\n", "three"}));
  const absl::Status failed = RunProcess({"sh", "-c", "exit 3"}, nullptr);
  EXPECT_EQ(failed.code(), absl::StatusCode::kInternal);
  EXPECT_NE(failed.message().find("exited with status 3"), std::string::npos) << failed;
  const absl::Status missing = RunProcess({"/no/such/program"}, nullptr);
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.message().find("/no/such/program"), std::string::npos);
}

TEST(RunProcessTest, ArgumentsReachTheProgramAsTheyAre) {
  const std::string marker = ::testing::TempDir() + "/subprocess_marker";
  fs::remove(marker);
  std::vector<std::string> lines;
  const std::string argument = "$(touch " + marker + "); 'quoted' \"x\"";
  ASSERT_TRUE(RunProcess({"printf", "%s", argument}, [&](const std::string& l) {
                lines.push_back(l);
              }).ok());
  EXPECT_EQ(lines, std::vector<std::string>{argument});
  EXPECT_FALSE(fs::exists(marker));
}

TEST(StartProcessTest, AppendsOutputRunsInTheFolderAndOwnsItsSession) {
  const std::string dir = ::testing::TempDir() + "/start_process";
  fs::remove_all(dir);
  fs::create_directories(dir);
  StartOptions options;
  options.output_path = dir + "/out.log";
  options.working_dir = dir;
  options.new_session = true;
  ASSERT_TRUE(WriteFileAtomically(options.output_path, "earlier\n").ok());
  absl::StatusOr<pid_t> pid = StartProcess(
      {"sh", "-c",
       "pwd; echo err >&2; [ \"$(ps -o sid= -p $$ | tr -d ' ')\" = $$ ] && echo leader"},
      options);
  ASSERT_TRUE(pid.ok()) << pid.status();
  EXPECT_EQ(Wait(*pid), 0);
  EXPECT_EQ(*ReadFileToString(options.output_path),
            "earlier\n" + fs::canonical(dir).string() + "\nerr\nleader\n");
}

TEST(StartProcessTest, StartFailuresComeBackWithTheReason) {
  StartOptions options;
  options.working_dir = ::testing::TempDir() + "/no_such_folder";
  const absl::StatusOr<pid_t> in_missing = StartProcess({"true"}, options);
  EXPECT_EQ(in_missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(in_missing.status().message().find("no_such_folder"), std::string::npos)
      << in_missing.status();
  EXPECT_EQ(StartProcess({"/no/such/program"}, {}).status().code(), absl::StatusCode::kNotFound);
  StartOptions bad_log;
  bad_log.output_path = ::testing::TempDir() + "/no/such/dir/out.log";
  EXPECT_EQ(StartProcess({"true"}, bad_log).status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace ftl
