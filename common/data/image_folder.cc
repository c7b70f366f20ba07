// LoadImageFolder: one sub-folder per identity.
#include "common/data/image_folder.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/data/dataset.h"
#include "common/data/image_decode.h"
#include "common/data/image_stream.h"
#include "common/data/parallel_load.h"
#include "common/util/log.h"
#include "common/util/status_macros.h"
#include "common/util/work_counter.h"

namespace ftl {
namespace {

namespace fs = std::filesystem;

bool IsImageFile(const fs::path& path) {
  static const char* const kExtensions[] = {".pgm",  ".ppm", ".pnm", ".png", ".jpg",
                                            ".jpeg", ".bmp", ".tif", ".tiff"};
  const std::string ext = absl::AsciiStrToLower(path.extension().string());
  return std::any_of(std::begin(kExtensions), std::end(kExtensions),
                     [&ext](const char* known) { return ext == known; });
}

class FolderSource : public EncodedImageSource {
 public:
  explicit FolderSource(std::string root) : root_(std::move(root)) {}

  absl::StatusOr<std::string> Read(const std::string& sample_name) const override {
    const std::string path = Locate(sample_name);
    std::ifstream in(path, std::ios::binary);
    if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad()) return absl::DataLossError(absl::StrCat(path, ": read error"));
    return bytes;
  }
  std::string Locate(const std::string& sample_name) const override {
    return (fs::path(root_) / sample_name).string();
  }

 private:
  std::string root_;
};

// Calls `visit(entry, error)` for each entry of `dir`; an entry `visit` cannot examine (a symlink
// loop, a dangling link, no permission: `error` set) is skipped and named in `skipped`, never
// thrown (the range-for of directory_iterator throws filesystem_error, which ended the worker).
template <typename Visit>
absl::Status ForEachEntry(const fs::path& dir, std::vector<std::string>* skipped, Visit visit) {
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat(dir.string(), ": cannot list: ", ec.message()));
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (ec) break;
    std::error_code entry_error;
    visit(*it, entry_error);
    if (entry_error) {
      skipped->push_back(absl::StrCat(it->path().string(), " (", entry_error.message(), ")"));
    }
  }
  if (ec) return absl::InternalError(absl::StrCat(dir.string(), ": cannot list: ", ec.message()));
  return absl::OkStatus();
}

}  // namespace

std::unique_ptr<EncodedImageSource> FolderImageSource(const std::string& root) {
  return std::make_unique<FolderSource>(root);
}

absl::StatusOr<SourceListing> ListImageFolder(const std::string& root) {
  std::error_code ec;
  if (!fs::is_directory(root, ec)) {
    return absl::NotFoundError(absl::StrCat(root, ": not a folder"));
  }
  std::vector<fs::path> class_dirs;
  std::vector<std::string> skipped;  // entries that could not be examined, with the reason
  absl::Status listed =
      ForEachEntry(root, &skipped, [&](const fs::directory_entry& entry, std::error_code& e) {
        if (entry.is_directory(e)) class_dirs.push_back(entry.path());
      });
  if (!listed.ok()) return listed;
  std::sort(class_dirs.begin(), class_dirs.end());
  SourceListing listing;
  for (const fs::path& dir : class_dirs) {
    std::vector<std::string> names;
    listed = ForEachEntry(dir, &skipped, [&](const fs::directory_entry& entry, std::error_code& e) {
      if (IsImageFile(entry.path()) && entry.is_regular_file(e))
        names.push_back(entry.path().filename().string());
    });
    if (!listed.ok()) skipped.push_back(std::string(listed.message()));
    std::sort(names.begin(), names.end());
    CountWork();  // a folder listed: the heartbeat's sign of progress (slow on network storage)
    const std::string class_name = dir.filename().string();
    for (const std::string& name : names) {
      listing.sample_names.push_back(class_name + "/" + name);
      listing.identities.push_back(class_name);
    }
  }
  constexpr size_t kNamed = 10;
  for (size_t i = 0; i < std::min(skipped.size(), kNamed); ++i) Log("skipped: ", skipped[i]);
  if (skipped.size() > kNamed) Log("skipped: ", skipped.size() - kNamed, " more entries of ", root);
  if (listing.sample_names.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(root, ": no images found (expected one sub-folder of images per identity)"));
  }
  return listing;
}

absl::StatusOr<SourceListing> ListImageFolderSamples(const std::string& root,
                                                     const std::vector<std::string>& names) {
  if (names.empty()) return absl::InvalidArgumentError(absl::StrCat(root, ": no images selected"));
  SourceListing listing;
  listing.sample_names = names;
  std::sort(listing.sample_names.begin(), listing.sample_names.end());
  listing.sample_names.erase(std::unique(listing.sample_names.begin(), listing.sample_names.end()),
                             listing.sample_names.end());
  for (const std::string& name : listing.sample_names) {
    const size_t slash = name.find('/');
    if (slash == std::string::npos || slash == 0 || name.find("..") != std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat(root, ": sample \"", name, "\" is not of the form identity/file"));
    }
    listing.identities.push_back(name.substr(0, slash));
  }
  return listing;
}

absl::StatusOr<Dataset> LoadImageFolder(const std::string& root, const ImageOptions& options,
                                        const LoadProgress& progress,
                                        const std::vector<std::string>* only) {
  SourceListing listing;
  if (only == nullptr) {
    FTL_ASSIGN_OR_RETURN(listing, ListImageFolder(root));
  } else {
    FTL_ASSIGN_OR_RETURN(listing, ListImageFolderSamples(root, *only));
  }
  // Labels follow identity name order, as in a full listing.
  std::vector<std::string> class_names = listing.identities;
  std::sort(class_names.begin(), class_names.end());
  class_names.erase(std::unique(class_names.begin(), class_names.end()), class_names.end());
  std::vector<std::string> files = std::move(listing.sample_names);
  std::vector<int64_t> file_labels;
  for (const std::string& identity : listing.identities) {
    file_labels.push_back(std::lower_bound(class_names.begin(), class_names.end(), identity) -
                          class_names.begin());
  }

  const int64_t n = static_cast<int64_t>(files.size());
  torch::Tensor decoded =
      torch::empty({n, options.channels, options.size, options.size}, torch::kUInt8);
  std::vector<char> ok(n, 0);
  ParallelLoad(
      n,
      [&](int64_t i) {
        absl::StatusOr<torch::Tensor> image =
            ReadImageFile((fs::path(root) / files[i]).string(), options);
        if (image.ok()) {
          decoded[i].copy_(*image);
          ok[i] = 1;
        }
      },
      progress);

  Dataset dataset;
  std::vector<int64_t> kept;
  for (int64_t i = 0; i < n; ++i) {
    if (ok[i]) {
      kept.push_back(i);
    } else {
      dataset.skipped_names.push_back(files[i]);
    }
  }
  dataset.skipped_images = static_cast<int64_t>(dataset.skipped_names.size());
  if (kept.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(root, ": none of the ", n, " images is readable"));
  }
  const torch::Tensor rows = torch::tensor(kept, torch::kInt64);
  dataset.images = decoded.index_select(0, rows);
  dataset.labels = torch::tensor(file_labels, torch::kInt64).index_select(0, rows);
  for (int64_t i : kept) dataset.sample_names.push_back(files[i]);
  dataset.class_names = std::move(class_names);
  // A class whose every image was unreadable stays as an empty class; drop it so labels stay dense.
  return KeepLargestClasses(dataset, 0);
}

}  // namespace ftl
