#include "common/data/dataset.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <limits>
#include <numeric>
#include <random>
#include <unordered_map>
#include <unordered_set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "common/data/idx_reader.h"
#include "common/data/image_folder.h"
#include "common/data/image_stream.h"
#include "common/data/parallel_load.h"
#include "common/data/recordio.h"
#include "common/util/file.h"
#include "common/util/status_macros.h"
#include "common/util/work_counter.h"

namespace ftl {
namespace {

// The samples at `rows`, with labels remapped by `new_label` (old label -> new, -1 = dropped
// class, whose samples must not be in `rows`).
Dataset Subset(const Dataset& dataset, const std::vector<int64_t>& rows,
               const std::vector<int64_t>& new_label, std::vector<std::string> class_names) {
  Dataset out;
  const torch::Tensor index = torch::tensor(rows, torch::kInt64);
  if (dataset.images.defined()) out.images = dataset.images.index_select(0, index);
  out.stream = dataset.stream;
  if (dataset.yaw.defined()) out.yaw = dataset.yaw.index_select(0, index);
  const auto old_labels = dataset.labels.accessor<int64_t, 1>();
  std::vector<int64_t> labels;
  labels.reserve(rows.size());
  for (int64_t row : rows) {
    labels.push_back(new_label[old_labels[row]]);
    out.sample_names.push_back(dataset.sample_names[row]);
  }
  out.labels = torch::tensor(labels, torch::kInt64);
  out.class_names = std::move(class_names);
  out.skipped_images = dataset.skipped_images;
  out.skipped_names = dataset.skipped_names;
  return out;
}

// Class indices ordered by (image count, name), ascending.
std::vector<int64_t> ClassesBySize(const Dataset& dataset) {
  const torch::Tensor counts = dataset.ClassCounts();
  const auto c = counts.accessor<int64_t, 1>();
  std::vector<int64_t> order(dataset.num_classes());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    if (c[a] != c[b]) return c[a] < c[b];
    return dataset.class_names[a] < dataset.class_names[b];
  });
  return order;
}

}  // namespace

void ParallelLoad(int64_t n, const std::function<void(int64_t)>& body,
                  const LoadProgress& progress) {
  std::atomic<int64_t> done{0};
  absl::Mutex progress_mutex;  // progress() and last_report, from the parallel_for threads
  auto last_report = std::chrono::steady_clock::now();
  at::parallel_for(0, n, 16, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      body(i);
      CountWork();
      const int64_t finished = ++done;
      if (!progress) continue;
      absl::MutexLock lock(&progress_mutex);
      const auto now = std::chrono::steady_clock::now();
      if (now - last_report > std::chrono::seconds(5)) {
        last_report = now;
        progress(finished, n);
      }
    }
  });
}

ImageOptions ImageOptionsFor(const DataConfig& data, const ModelShape& shape) {
  ImageOptions options;
  options.size = shape.input_size;
  options.channels = shape.channels;
  options.center_crop = data.center_crop;
  return options;
}

int64_t Dataset::image_size() const { return stream ? stream->options().size : images.size(2); }

torch::Tensor Dataset::ClassCounts() const {
  return torch::bincount(labels, /*weights=*/{}, num_classes()).to(torch::kInt64);
}

absl::Status AttachYaw(const std::string& csv_path, Dataset* dataset) {
  std::ifstream in(csv_path);
  if (!in) return absl::NotFoundError(absl::StrCat(csv_path, ": cannot open"));
  std::unordered_map<std::string, int64_t> row_of;
  for (int64_t i = 0; i < dataset->size(); ++i) row_of[dataset->sample_names[i]] = i;
  // A sample the CSV does not list has an unknown pose: NaN fails Eq. 5's filter, so it is left out
  // of its class centre (unless no sample of the class passes; see FinishCenters).
  std::vector<float> yaw(dataset->size(), std::numeric_limits<float>::quiet_NaN());
  std::string line;
  int64_t line_number = 0;
  while (std::getline(in, line)) {
    ++line_number;
    const absl::string_view text = absl::StripAsciiWhitespace(line);
    if (text.empty() || text[0] == '#') continue;
    const std::vector<absl::string_view> fields = absl::StrSplit(text, absl::MaxSplits(',', 1));
    double degrees = 0;
    if (fields.size() != 2 || !absl::SimpleAtod(absl::StripAsciiWhitespace(fields[1]), &degrees)) {
      if (line_number == 1) continue;  // a header line
      return absl::InvalidArgumentError(
          absl::StrCat(csv_path, ":", line_number, ": expected \"name,yaw_degrees\""));
    }
    auto it = row_of.find(std::string(absl::StripAsciiWhitespace(fields[0])));
    if (it != row_of.end()) yaw[it->second] = static_cast<float>(degrees);
  }
  dataset->yaw = torch::tensor(yaw, torch::kFloat32);
  return absl::OkStatus();
}

Dataset KeepLargestClasses(const Dataset& dataset, int64_t max_classes) {
  const torch::Tensor counts = dataset.ClassCounts();
  const auto c = counts.accessor<int64_t, 1>();
  std::vector<int64_t> by_size = ClassesBySize(dataset);
  std::vector<char> keep(dataset.num_classes(), 0);
  int64_t kept = 0;
  for (auto it = by_size.rbegin(); it != by_size.rend(); ++it) {
    if (c[*it] == 0 || (max_classes > 0 && kept >= max_classes)) continue;
    keep[*it] = 1;
    ++kept;
  }
  // Kept classes keep their relative (name) order.
  std::vector<int64_t> new_label(dataset.num_classes(), -1);
  std::vector<std::string> names;
  for (int64_t k = 0; k < dataset.num_classes(); ++k) {
    if (!keep[k]) continue;
    new_label[k] = static_cast<int64_t>(names.size());
    names.push_back(dataset.class_names[k]);
  }
  std::vector<int64_t> rows;
  const auto labels = dataset.labels.accessor<int64_t, 1>();
  for (int64_t i = 0; i < dataset.size(); ++i) {
    if (keep[labels[i]]) rows.push_back(i);
  }
  return Subset(dataset, rows, new_label, std::move(names));
}

Dataset CutSmallestClasses(const Dataset& dataset, int64_t cut_classes, int64_t keep_images,
                           uint64_t seed) {
  std::vector<int64_t> by_size = ClassesBySize(dataset);
  std::vector<char> cut(dataset.num_classes(), 0);
  for (int64_t i = 0; i < std::min<int64_t>(cut_classes, by_size.size()); ++i) cut[by_size[i]] = 1;
  std::vector<std::vector<int64_t>> members(dataset.num_classes());
  const auto labels = dataset.labels.accessor<int64_t, 1>();
  for (int64_t i = 0; i < dataset.size(); ++i) members[labels[i]].push_back(i);
  std::vector<int64_t> rows;
  for (int64_t k = 0; k < dataset.num_classes(); ++k) {
    std::vector<int64_t>& m = members[k];
    if (cut[k] && static_cast<int64_t>(m.size()) > keep_images) {
      std::mt19937_64 rng(seed * 1000003u + static_cast<uint64_t>(k));
      std::shuffle(m.begin(), m.end(), rng);
      m.resize(keep_images);
    }
    rows.insert(rows.end(), m.begin(), m.end());
  }
  std::sort(rows.begin(), rows.end());
  std::vector<int64_t> identity(dataset.num_classes());
  std::iota(identity.begin(), identity.end(), 0);
  return Subset(dataset, rows, identity, dataset.class_names);
}

absl::StatusOr<SourceListing> ListSource(const DataConfig& config) {
  if (config.format == "idx") return ListIdx(config.path, config.labels_path, config.max_images);
  if (config.format == "recordio") {
    return ListRecordIo(config.path, RecordIoIndexPathFor(config));
  }
  return ListImageFolder(config.path);
}

absl::StatusOr<std::vector<std::string>> ReadManifest(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open manifest"));
  std::vector<std::string> names;
  std::string line;
  while (std::getline(in, line)) {
    const absl::string_view name = absl::StripAsciiWhitespace(line);
    if (!name.empty()) names.emplace_back(name);
  }
  if (in.bad()) return absl::DataLossError(absl::StrCat(path, ": read error"));
  if (names.empty())
    return absl::InvalidArgumentError(absl::StrCat(path, ": manifest lists no samples"));
  return names;
}

absl::Status WriteManifest(const std::string& path, const std::vector<std::string>& sample_names) {
  std::string text;
  for (const std::string& name : sample_names) absl::StrAppend(&text, name, "\n");
  return WriteFileAtomically(path, text);
}

absl::StatusOr<Dataset> LoadSource(const DataConfig& config, const ImageOptions& options,
                                   const std::vector<std::string>* only,
                                   const LoadProgress& progress) {
  if (config.format == "idx") {
    return LoadIdx(config.path, config.labels_path, options, config.max_images, only);
  }
  if (config.format == "recordio") {
    return LoadRecordIo(config.path, RecordIoIndexPathFor(config), options, only, progress);
  }
  return LoadImageFolder(config.path, options, progress, only);
}

absl::StatusOr<Dataset> LoadDataset(const DataConfig& config, const ModelShape& shape,
                                    uint64_t seed, const LoadProgress& progress) {
  const ImageOptions options = ImageOptionsFor(config, shape);
  std::vector<std::string> manifest;
  if (!config.manifest.empty()) {
    FTL_ASSIGN_OR_RETURN(manifest, ReadManifest(config.manifest));
  }
  const std::vector<std::string>* only = config.manifest.empty() ? nullptr : &manifest;
  Dataset dataset;
  if (config.streaming) {
    FTL_ASSIGN_OR_RETURN(dataset, StreamSource(config, options, only, progress));
  } else {
    FTL_ASSIGN_OR_RETURN(dataset, LoadSource(config, options, only, progress));
  }
  if (!config.yaw_csv.empty()) FTL_RETURN_IF_ERROR(AttachYaw(config.yaw_csv, &dataset));
  if (config.max_classes > 0) dataset = KeepLargestClasses(dataset, config.max_classes);
  if (config.cut_classes > 0) {
    dataset = CutSmallestClasses(dataset, config.cut_classes, config.cut_to_images, seed);
  }
  if (!config.regular_identities.empty()) {
    FTL_ASSIGN_OR_RETURN(const std::vector<std::string> regular,
                         ReadManifest(config.regular_identities));
    const std::unordered_set<std::string> listed(regular.begin(), regular.end());
    dataset.regular_classes = torch::zeros({dataset.num_classes()}, torch::kBool);
    for (int64_t c = 0; c < dataset.num_classes(); ++c) {
      if (listed.count(dataset.class_names[c]) > 0) dataset.regular_classes[c] = true;
    }
  }
  return dataset;
}

torch::Tensor RegularClassMask(const Dataset& dataset, int ur_max_images) {
  if (dataset.regular_classes.defined()) return dataset.regular_classes;
  return dataset.ClassCounts() > ur_max_images;
}

torch::Tensor ImageBatch(const Dataset& dataset, const torch::Tensor& indices) {
  absl::StatusOr<torch::Tensor> images = GatherImages(dataset, indices);
  if (!images.ok()) throw DataReadError(std::string(images.status().message()));
  return images->to(torch::kFloat32).div_(255.0);
}

}  // namespace ftl
