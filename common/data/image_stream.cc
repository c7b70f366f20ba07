#include "common/data/image_stream.h"

#include <algorithm>
#include <cstring>
#include <unordered_set>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/data/image_decode.h"
#include "common/data/image_folder.h"
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
    return absl::InvalidArgumentError(
        absl::StrCat(source_->Locate(sample_name), ": ", image.status().message()));
  }
  return image;
}

bool ImageStream::IsKnownBad(const std::string& sample_name) const {
  absl::MutexLock lock(&mutex_);
  return bad_.count(sample_name) > 0;
}

bool ImageStream::MarkBad(const std::string& sample_name) {
  absl::MutexLock lock(&mutex_);
  return bad_.insert(sample_name).second;
}

int64_t ImageStream::bad_count() const {
  absl::MutexLock lock(&mutex_);
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
  return absl::DataLossError(absl::StrCat(
      "no image of identity '", dataset.class_names[labels[row]], "' is readable any more (",
      stream.source().Locate(dataset.sample_names[row]), " and the others failed to decode)"));
}

absl::StatusOr<std::unique_ptr<EncodedImageSource>> OpenEncodedSource(const DataConfig& config) {
  if (config.format == "recordio") {
    FTL_ASSIGN_OR_RETURN(std::unique_ptr<RecordIoReader> reader,
                         RecordIoReader::Open(config.path, RecordIoIndexPathFor(config)));
    return RecordIoImageSource(std::move(reader));
  }
  if (config.format == "image_folder") return FolderImageSource(config.path);
  return absl::InvalidArgumentError(absl::StrCat("data.streaming: ", config.format,
                                                 " sources are read into memory; streaming is for "
                                                 "image_folder and recordio"));
}

// Length-prefixed fields for the listing message.
void PutInt(std::string* out, int64_t v) {
  out->append(reinterpret_cast<const char*>(&v), sizeof(v));
}
void PutBytes(std::string* out, const void* data, int64_t size) {
  PutInt(out, size);
  out->append(static_cast<const char*>(data), static_cast<size_t>(size));
}
void PutStrings(std::string* out, const std::vector<std::string>& strings) {
  PutInt(out, static_cast<int64_t>(strings.size()));
  for (const std::string& s : strings) PutBytes(out, s.data(), static_cast<int64_t>(s.size()));
}
void PutTensor(std::string* out, const torch::Tensor& t) {
  if (!t.defined()) return PutInt(out, -1);
  const torch::Tensor c = t.contiguous();
  const int64_t size = c.numel() * static_cast<int64_t>(c.element_size());
  if (size == 0) return PutInt(out, 0);  // an empty tensor's data pointer may be null
  PutBytes(out, c.data_ptr(), size);
}

class ListingReader {
 public:
  // Reads `bytes` from offset `start` (past the magic; the message is not copied).
  ListingReader(const std::string& bytes, size_t start) : bytes_(bytes), pos_(start) {}
  bool Int(int64_t* v) {
    if (bytes_.size() - pos_ < sizeof(*v)) return false;
    std::memcpy(v, bytes_.data() + pos_, sizeof(*v));
    pos_ += sizeof(*v);
    return true;
  }
  bool Bytes(std::string* s) {
    int64_t size = 0;
    if (!Int(&size) || size < 0 || static_cast<uint64_t>(size) > bytes_.size() - pos_) return false;
    s->assign(bytes_.data() + pos_, static_cast<size_t>(size));
    pos_ += static_cast<size_t>(size);
    return true;
  }
  bool Strings(std::vector<std::string>* strings) {
    int64_t count = 0;
    // Each string takes at least its 8-byte length: a count beyond that is damage.
    if (!Int(&count) || count < 0 || static_cast<uint64_t>(count) > (bytes_.size() - pos_) / 8)
      return false;
    strings->resize(static_cast<size_t>(count));
    for (std::string& s : *strings) {
      if (!Bytes(&s)) return false;
    }
    return true;
  }
  // A tensor of `count` elements of `dtype`, or undefined when it was sent undefined.
  bool Tensor(torch::ScalarType dtype, int64_t count, torch::Tensor* t) {
    int64_t size = 0;
    if (!Int(&size)) return false;
    if (size == -1) return true;
    const int64_t element = static_cast<int64_t>(c10::elementSize(dtype));
    if (size != count * element || static_cast<uint64_t>(size) > bytes_.size() - pos_) return false;
    *t = torch::empty({count}, dtype);
    if (size > 0) std::memcpy(t->data_ptr(), bytes_.data() + pos_, static_cast<size_t>(size));
    pos_ += static_cast<size_t>(size);
    return true;
  }
  bool AtEnd() const { return pos_ == bytes_.size(); }

 private:
  const std::string& bytes_;
  size_t pos_;
};

constexpr char kListingMagic[] = "FTL-LISTING-1";

}  // namespace

std::string EncodeStreamedListing(const Dataset& dataset) {
  std::string out(kListingMagic);
  PutStrings(&out, dataset.sample_names);
  PutStrings(&out, dataset.class_names);
  PutStrings(&out, dataset.skipped_names);
  PutInt(&out, dataset.skipped_images);
  PutTensor(&out, dataset.labels);
  PutTensor(&out, dataset.yaw);
  PutTensor(&out, dataset.regular_classes);
  return out;
}

absl::StatusOr<Dataset> DecodeStreamedListing(const std::string& bytes, const DataConfig& config,
                                              const ImageOptions& options) {
  const std::string magic(kListingMagic);
  const auto damaged = [&](const char* what) {
    return absl::DataLossError(absl::StrCat("streamed listing of ", config.path, " (", bytes.size(),
                                            " bytes): damaged at the ", what));
  };
  if (bytes.compare(0, magic.size(), magic) != 0) return damaged("header");
  ListingReader in(bytes, magic.size());
  Dataset dataset;
  if (!in.Strings(&dataset.sample_names)) return damaged("sample names");
  if (!in.Strings(&dataset.class_names)) return damaged("class names");
  if (!in.Strings(&dataset.skipped_names)) return damaged("skipped names");
  if (!in.Int(&dataset.skipped_images)) return damaged("skip count");
  const int64_t n = static_cast<int64_t>(dataset.sample_names.size());
  if (!in.Tensor(torch::kInt64, n, &dataset.labels) || !dataset.labels.defined())
    return damaged("labels");
  if (!in.Tensor(torch::kFloat32, n, &dataset.yaw)) return damaged("yaw");
  if (!in.Tensor(torch::kBool, dataset.num_classes(), &dataset.regular_classes))
    return damaged("regular classes");
  if (!in.AtEnd()) return damaged("end");
  if (n > 0 && (dataset.labels.min().item<int64_t>() < 0 ||
                dataset.labels.max().item<int64_t>() >= dataset.num_classes())) {
    return damaged("labels (out of range)");
  }
  FTL_ASSIGN_OR_RETURN(std::unique_ptr<EncodedImageSource> source, OpenEncodedSource(config));
  dataset.stream = std::make_shared<ImageStream>(std::move(source), options);
  return dataset;
}

absl::StatusOr<torch::Tensor> GatherImages(const Dataset& dataset, const torch::Tensor& rows) {
  if (!dataset.stream) return dataset.images.index_select(0, rows);
  const ImageOptions& options = dataset.stream->options();
  const torch::Tensor index = rows.to(torch::kInt64).contiguous();
  const int64_t count = index.size(0);
  torch::Tensor out =
      torch::empty({count, options.channels, options.size, options.size}, torch::kUInt8);
  const int64_t* r = index.data_ptr<int64_t>();
  for (int64_t i = 0; i < count; ++i) {
    if (r[i] < 0 || r[i] >= dataset.size()) {
      return absl::OutOfRangeError(
          absl::StrCat("row ", r[i], " is outside the dataset of ", dataset.size()));
    }
    FTL_ASSIGN_OR_RETURN(const torch::Tensor image, DecodeRowOrSubstitute(dataset, r[i]));
    out[i].copy_(image);
  }
  return out;
}

absl::StatusOr<Dataset> StreamSource(const DataConfig& config, const ImageOptions& options,
                                     const std::vector<std::string>* only,
                                     const LoadProgress& progress) {
  std::unique_ptr<EncodedImageSource> source;
  SourceListing listing;
  std::vector<std::string> skipped;
  const bool recordio = config.format == "recordio";
  if (recordio) {
    // The labels are in the record headers: list them all (256-byte reads), keep `only`. Bad
    // labels are counted skips, as when loading into memory. One reader (one .idx parse) for both.
    FTL_ASSIGN_OR_RETURN(std::unique_ptr<RecordIoReader> reader,
                         RecordIoReader::Open(config.path, RecordIoIndexPathFor(config)));
    FTL_ASSIGN_OR_RETURN(listing, ListRecordIo(*reader, &skipped, progress));
    source = RecordIoImageSource(std::move(reader));
    if (only != nullptr) {
      std::unordered_set<std::string> wanted(only->begin(), only->end());
      SourceListing kept;
      for (size_t i = 0; i < listing.sample_names.size(); ++i) {
        if (wanted.erase(listing.sample_names[i]) == 0) continue;
        kept.sample_names.push_back(listing.sample_names[i]);
        kept.identities.push_back(listing.identities[i]);
      }
      skipped.clear();  // keep only the manifest's own
      for (const std::string& name : wanted)
        skipped.push_back(absl::StrCat(name, " (not a usable image record)"));
      std::sort(skipped.begin(), skipped.end());
      listing = std::move(kept);
    }
  } else {
    FTL_ASSIGN_OR_RETURN(source, OpenEncodedSource(config));  // refuses formats that do not stream
    if (only == nullptr) {
      FTL_ASSIGN_OR_RETURN(listing, ListImageFolder(config.path));
    } else {
      FTL_ASSIGN_OR_RETURN(listing, ListImageFolderSamples(config.path, *only));
    }
  }
  if (listing.sample_names.empty())
    return absl::InvalidArgumentError(absl::StrCat(config.path, ": no images selected"));

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
    const auto it =
        recordio ? std::lower_bound(class_names.begin(), class_names.end(), identity, numeric_less)
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
