// LoadIdx: MNIST-style IDX files (http://yann.lecun.com/exdb/mnist/ format), gzip or raw.
#include "common/data/idx_reader.h"

#include <zlib.h>

#include <algorithm>
#include <memory>
#include <numeric>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/data/dataset.h"
#include "common/data/image_decode.h"
#include "common/util/status_macros.h"

namespace ftl {
namespace {

struct GzCloser {
  void operator()(gzFile file) const { gzclose(file); }
};
using GzHandle = std::unique_ptr<gzFile_s, GzCloser>;

// Reads a whole (possibly gzip-compressed) file; gzread passes raw files through unchanged.
absl::StatusOr<std::string> ReadMaybeGzip(const std::string& path) {
  GzHandle file(gzopen(path.c_str(), "rb"));
  if (!file) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  std::string data;
  char buffer[1 << 16];
  for (;;) {
    const int got = gzread(file.get(), buffer, sizeof(buffer));
    if (got < 0) {
      int code = 0;
      const char* message = gzerror(file.get(), &code);
      return absl::DataLossError(absl::StrCat(path, ": read error after ", data.size(),
                                              " bytes: ", message ? message : "?"));
    }
    if (got == 0) break;
    data.append(buffer, got);
  }
  return data;
}

uint32_t BigEndian32(const std::string& data, size_t offset) {
  const auto* p = reinterpret_cast<const unsigned char*>(data.data() + offset);
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

struct IdxArray {
  std::vector<int64_t> dims;
  size_t data_offset = 0;
};

absl::StatusOr<IdxArray> ParseIdxHeader(const std::string& path, const std::string& data,
                                        int expected_dims) {
  if (data.size() < 4) {
    return absl::DataLossError(absl::StrCat(path, ": offset 0: file too short for an IDX header"));
  }
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  if (p[0] != 0 || p[1] != 0 || p[2] != 0x08) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": offset 0: not an unsigned-byte IDX file (magic ", int(p[0]), " ",
                     int(p[1]), " ", int(p[2]), ")"));
  }
  if (p[3] != expected_dims) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": offset 3: expected ", expected_dims,
                                                   " dimensions, found ", int(p[3])));
  }
  IdxArray array;
  size_t offset = 4;
  int64_t total = 1;
  for (int i = 0; i < expected_dims; ++i, offset += 4) {
    if (data.size() < offset + 4) {
      return absl::DataLossError(absl::StrCat(path, ": offset ", offset, ": truncated header"));
    }
    array.dims.push_back(BigEndian32(data, offset));
    // Checked as we go (found by fuzzing: a forged header overflowed the product).
    if (array.dims.back() != 0 && total > static_cast<int64_t>(data.size()) / array.dims.back()) {
      return absl::DataLossError(absl::StrCat(path, ": offset ", offset,
                                              ": header dimensions need more bytes than the ",
                                              data.size(), " the file has"));
    }
    total *= array.dims.back();
  }
  array.data_offset = offset;
  if (data.size() < offset + static_cast<size_t>(total)) {
    return absl::DataLossError(absl::StrCat(path, ": offset ", data.size(),
                                            ": truncated, header says ", offset + total, " bytes"));
  }
  return array;
}

// An images file and its labels file, read and checked against each other.
struct IdxPair {
  std::string image_bytes, label_bytes;
  IdxArray images, labels;
};

absl::StatusOr<IdxPair> ReadIdxPair(const std::string& images_path,
                                    const std::string& labels_path) {
  IdxPair pair;
  FTL_ASSIGN_OR_RETURN(pair.image_bytes, ReadMaybeGzip(images_path));
  FTL_ASSIGN_OR_RETURN(pair.label_bytes, ReadMaybeGzip(labels_path));
  FTL_ASSIGN_OR_RETURN(pair.images, ParseIdxHeader(images_path, pair.image_bytes, 3));
  FTL_ASSIGN_OR_RETURN(pair.labels, ParseIdxHeader(labels_path, pair.label_bytes, 1));
  // Rows and columns must be positive and fit OpenCV's int sizes (found by fuzzing: a 6 x 0 image).
  if (pair.images.dims[1] < 1 || pair.images.dims[2] < 1 || pair.images.dims[1] > 65535 ||
      pair.images.dims[2] > 65535) {
    return absl::InvalidArgumentError(absl::StrCat(images_path, ": offset 8: image size ",
                                                   pair.images.dims[1], " x ", pair.images.dims[2],
                                                   " is not in [1, 65535]"));
  }
  if (pair.images.dims[0] != pair.labels.dims[0]) {
    return absl::InvalidArgumentError(absl::StrCat(images_path, " has ", pair.images.dims[0],
                                                   " images but ", labels_path, " has ",
                                                   pair.labels.dims[0], " labels"));
  }
  return pair;
}

// The "#index" names of `only` as row numbers below `n`, in ascending order.
absl::StatusOr<std::vector<int64_t>> IdxRows(const std::string& images_path,
                                             const std::vector<std::string>& only, int64_t n) {
  std::vector<int64_t> rows;
  rows.reserve(only.size());
  for (const std::string& name : only) {
    int64_t row = -1;
    if (name.size() < 2 || name[0] != '#' || !absl::SimpleAtoi(name.substr(1), &row) || row < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(images_path, ": sample \"", name, "\" is not of the form #index"));
    }
    if (row >= n) {
      return absl::OutOfRangeError(
          absl::StrCat(images_path, ": sample ", name, " is past the end (", n, " images)"));
    }
    rows.push_back(row);
  }
  std::sort(rows.begin(), rows.end());
  rows.erase(std::unique(rows.begin(), rows.end()), rows.end());
  return rows;
}

}  // namespace

absl::StatusOr<SourceListing> ListIdx(const std::string& images_path,
                                      const std::string& labels_path, int64_t max_images) {
  FTL_ASSIGN_OR_RETURN(const IdxPair pair, ReadIdxPair(images_path, labels_path));
  const std::string& label_bytes = pair.label_bytes;
  const IdxArray& images = pair.images;
  const IdxArray& labels = pair.labels;
  int64_t n = images.dims[0];
  if (max_images > 0) n = std::min(n, max_images);
  SourceListing listing;
  for (int64_t i = 0; i < n; ++i) {
    listing.sample_names.push_back(absl::StrCat("#", i));
    listing.identities.push_back(
        absl::StrCat(static_cast<unsigned char>(label_bytes[labels.data_offset + i])));
  }
  return listing;
}

absl::StatusOr<Dataset> LoadIdx(const std::string& images_path, const std::string& labels_path,
                                const ImageOptions& options, int64_t max_images,
                                const std::vector<std::string>* only) {
  FTL_ASSIGN_OR_RETURN(const IdxPair pair, ReadIdxPair(images_path, labels_path));
  const std::string& image_bytes = pair.image_bytes;
  const std::string& label_bytes = pair.label_bytes;
  const IdxArray& images = pair.images;
  const IdxArray& labels = pair.labels;
  int64_t total = images.dims[0];
  if (max_images > 0) total = std::min(total, max_images);
  std::vector<int64_t> rows;
  if (only != nullptr) {
    FTL_ASSIGN_OR_RETURN(rows, IdxRows(images_path, *only, total));
  } else {
    rows.resize(total);
    std::iota(rows.begin(), rows.end(), 0);
  }
  const int64_t n = static_cast<int64_t>(rows.size());
  const int64_t h = images.dims[1], w = images.dims[2];
  Dataset dataset;
  dataset.images = torch::empty({n, options.channels, options.size, options.size}, torch::kUInt8);
  std::vector<int64_t> label_values(n);
  int64_t max_label = 0;
  for (int64_t k = 0; k < n; ++k) {
    const int64_t i = rows[k];
    const cv::Mat raw(static_cast<int>(h), static_cast<int>(w), CV_8UC1,
                      const_cast<char*>(image_bytes.data() + images.data_offset + i * h * w));
    dataset.images[k].copy_(ImageToTensor(raw, options));
    label_values[k] = static_cast<unsigned char>(label_bytes[labels.data_offset + i]);
    max_label = std::max(max_label, label_values[k]);
    dataset.sample_names.push_back(absl::StrCat("#", i));
  }
  dataset.labels = torch::tensor(label_values, torch::kInt64);
  // Class names sort as strings elsewhere ("10" < "2"); IDX keeps numeric label order instead.
  for (int64_t c = 0; c <= max_label; ++c) dataset.class_names.push_back(absl::StrCat(c));
  return KeepLargestClasses(dataset, 0);
}

}  // namespace ftl
