#include "common/data/image_stream.h"

#include <algorithm>
#include <unordered_set>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/data/image_decode.h"
#include "common/data/recordio.h"
#include "common/util/log.h"
#include "common/util/status_macros.h"

namespace ftl {

ImageStream::ImageStream(std::unique_ptr<EncodedImageSource> source, const ImageOptions& options)
    : source_(std::move(source)), options_(options) {}

absl::StatusOr<torch::Tensor> ImageStream::Decode(const std::string& sample_name) const {
  FTL_ASSIGN_OR_RETURN(const std::string bytes, source_->Read(sample_name));
  absl::StatusOr<torch::Tensor> image = DecodeImage(bytes, options_);
  if (!image.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(source_->Locate(sample_name), ": ", image.status().message()));
  }
  return image;
}

bool ImageStream::IsKnownBad(const std::string& sample_name) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return bad_.count(sample_name) > 0;
}

bool ImageStream::MarkBad(const std::string& sample_name) {
  std::lock_guard<std::mutex> lock(mutex_);
  return bad_.insert(sample_name).second;
}

int64_t ImageStream::bad_count() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return static_cast<int64_t>(bad_.size());
}

namespace {

// The image of `row`, or of the next readable row of the same identity.
absl::StatusOr<torch::Tensor> DecodeRowOrSubstitute(const Dataset& dataset, int64_t row) {
  ImageStream& stream = *dataset.stream;
  const int64_t n = dataset.size();
  const int64_t* labels = dataset.labels.data_ptr<int64_t>();
  for (int64_t step = 0, candidate = row; step < n; ++step, candidate = (candidate + 1) % n) {
    if (labels[candidate] != labels[row]) continue;
    const std::string& name = dataset.sample_names[candidate];
    if (stream.IsKnownBad(name)) continue;
    absl::StatusOr<torch::Tensor> image = stream.Decode(name);
    if (image.ok()) return image;
    if (stream.MarkBad(name)) {
      Log("unreadable image skipped (", image.status().message(), "); another image of identity '",
          dataset.class_names[labels[row]], "' takes its place in the batch");
    }
  }
  return absl::DataLossError(absl::StrCat("no image of identity '", dataset.class_names[labels[row]],
                                          "' is readable any more (", stream.source().Locate(dataset.sample_names[row]),
                                          " and the others failed to decode)"));
}

}  // namespace

absl::StatusOr<torch::Tensor> GatherImages(const Dataset& dataset, const torch::Tensor& rows) {
  if (!dataset.stream) return dataset.images.index_select(0, rows);
  const ImageOptions& options = dataset.stream->options();
  const torch::Tensor index = rows.to(torch::kInt64).contiguous();
  const int64_t count = index.size(0);
  torch::Tensor out = torch::empty({count, options.channels, options.size, options.size}, torch::kUInt8);
  const int64_t* r = index.data_ptr<int64_t>();
  for (int64_t i = 0; i < count; ++i) {
    if (r[i] < 0 || r[i] >= dataset.size()) {
      return absl::OutOfRangeError(absl::StrCat("row ", r[i], " is outside the dataset of ", dataset.size()));
    }
    FTL_ASSIGN_OR_RETURN(const torch::Tensor image, DecodeRowOrSubstitute(dataset, r[i]));
    out[i].copy_(image);
  }
  return out;
}

absl::StatusOr<Dataset> StreamSource(const DataConfig& config, const ImageOptions& options,
                                     const std::vector<std::string>* only, const LoadProgress& progress) {
  std::unique_ptr<EncodedImageSource> source;
  SourceListing listing;
  std::vector<std::string> skipped;
  const bool recordio = config.format == "recordio";
  if (recordio) {
    const std::string idx_path = config.labels_path.empty() ? RecordIoIndexPath(config.path) : config.labels_path;
    FTL_ASSIGN_OR_RETURN(source, RecordIoImageSource(config.path, idx_path));
    // The labels are in the record headers: list them all (256-byte reads), keep `only`. Bad
    // labels are counted skips, as when loading into memory.
    FTL_ASSIGN_OR_RETURN(listing, ListRecordIo(config.path, idx_path, &skipped, progress));
    if (only != nullptr) {
      std::unordered_set<std::string> wanted(only->begin(), only->end());
      SourceListing kept;
      for (size_t i = 0; i < listing.sample_names.size(); ++i) {
        if (wanted.erase(listing.sample_names[i]) == 0) continue;
        kept.sample_names.push_back(listing.sample_names[i]);
        kept.identities.push_back(listing.identities[i]);
      }
      skipped.clear();  // keep only the manifest's own
      for (const std::string& name : wanted) skipped.push_back(absl::StrCat(name, " (not a usable image record)"));
      std::sort(skipped.begin(), skipped.end());
      listing = std::move(kept);
    }
  } else if (config.format == "image_folder") {
    source = FolderImageSource(config.path);
    if (only == nullptr) {
      FTL_ASSIGN_OR_RETURN(listing, ListImageFolder(config.path));
    } else {
      FTL_ASSIGN_OR_RETURN(listing, ListImageFolderSamples(config.path, *only));
    }
  } else {
    return absl::InvalidArgumentError(absl::StrCat("data.streaming: ", config.format,
                                                   " sources are read into memory; streaming is for "
                                                   "image_folder and recordio"));
  }
  if (listing.sample_names.empty()) return absl::InvalidArgumentError(absl::StrCat(config.path, ": no images selected"));

  // Classes in the order the in-memory loaders give them, so checkpoints and manifests agree.
  std::vector<std::string> class_names = listing.identities;
  auto numeric_less = [](const std::string& a, const std::string& b) {
    int64_t x = 0, y = 0;
    (void)absl::SimpleAtoi(a, &x);
    (void)absl::SimpleAtoi(b, &y);
    return x < y;
  };
  if (recordio) {
    std::sort(class_names.begin(), class_names.end(), numeric_less);
  } else {
    std::sort(class_names.begin(), class_names.end());
  }
  class_names.erase(std::unique(class_names.begin(), class_names.end()), class_names.end());
  std::vector<int64_t> labels;
  labels.reserve(listing.identities.size());
  for (const std::string& identity : listing.identities) {
    const auto it = recordio ? std::lower_bound(class_names.begin(), class_names.end(), identity, numeric_less)
                             : std::lower_bound(class_names.begin(), class_names.end(), identity);
    labels.push_back(it - class_names.begin());
  }
  Dataset dataset;
  dataset.labels = torch::tensor(labels, torch::kInt64);
  dataset.sample_names = std::move(listing.sample_names);
  dataset.class_names = std::move(class_names);
  dataset.skipped_images = static_cast<int64_t>(skipped.size());
  dataset.skipped_names = std::move(skipped);
  dataset.stream = std::make_shared<ImageStream>(std::move(source), options);
  return dataset;
}

}  // namespace ftl
