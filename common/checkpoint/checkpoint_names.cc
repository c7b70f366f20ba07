#include "common/checkpoint/checkpoint_names.h"

#include <algorithm>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/util/log.h"
#include "common/util/status_macros.h"

namespace ftl {

namespace fs = std::filesystem;

namespace {

// Calls visit(entry) for each entry of `dir` it can examine; never throws (an entry that cannot
// be examined, such as a symlink loop, is passed over).
template <typename Visit>
void ForEachFile(const std::string& dir, Visit visit) {
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec); !ec && it != fs::directory_iterator();
       it.increment(ec)) {
    std::error_code entry_error;
    if (it->is_regular_file(entry_error) && !entry_error) visit(*it);
  }
}

}  // namespace

std::vector<std::string> ListCheckpoints(const std::string& dir) {
  std::vector<std::string> files;
  ForEachFile(dir, [&](const fs::directory_entry& entry) {
    if (entry.path().extension() == ".ftlckpt") files.push_back(entry.path().string());
  });
  std::sort(files.begin(), files.end());
  return files;
}

void PruneCheckpoints(const std::string& dir, int keep) {
  std::vector<std::string> files = ListCheckpoints(dir);
  for (size_t i = 0; i + keep < files.size(); ++i) {
    std::error_code ec;
    fs::remove(files[i], ec);
  }
  // A worker killed while writing leaves NAME.ftlckpt.tmp.PID behind (WriteFileAtomically); one
  // that old is no write in progress.
  const auto stale_before = fs::file_time_type::clock::now() - kTornCheckpointAge;
  ForEachFile(dir, [&](const fs::directory_entry& entry) {
    std::error_code ec;
    if (entry.path().filename().string().find(".ftlckpt.tmp.") == std::string::npos ||
        entry.last_write_time(ec) >= stale_before || ec) {
      return;
    }
    if (fs::remove(entry.path(), ec))
      Log("removed a torn checkpoint write: ", entry.path().string());
  });
}

std::string CheckpointFileName(const std::string& dir, int64_t position) {
  return (fs::path(dir) / absl::StrFormat("ckpt-%06d.ftlckpt", position)).string();
}

absl::StatusOr<std::string> LoadNewestCheckpoint(
    const std::string& file_or_dir, const std::function<absl::Status(const std::string&)>& load) {
  std::error_code ec;
  if (!fs::is_directory(file_or_dir, ec)) {
    FTL_RETURN_IF_ERROR(load(file_or_dir));
    return file_or_dir;
  }
  const std::vector<std::string> files = ListCheckpoints(file_or_dir);
  if (files.empty())
    return absl::NotFoundError(absl::StrCat("no *.ftlckpt checkpoint in '", file_or_dir, "'"));
  absl::Status last_error;
  for (auto it = files.rbegin(); it != files.rend(); ++it) {
    last_error = load(*it);
    if (last_error.ok()) return *it;
    Log("skipping checkpoint: ", last_error.message());
  }
  return last_error;
}

}  // namespace ftl
