#include "common/data/recordio.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/data/image_decode.h"
#include "common/data/image_folder.h"
#include "common/data/image_stream.h"
#include "common/data/parallel_load.h"
#include "common/util/file.h"
#include "common/util/status_macros.h"

namespace ftl {
namespace {

constexpr uint32_t kLengthMask = (1u << 29) - 1;
constexpr size_t kHeaderBytes = 24;  // IRHeader: flag, label, id, id2

uint64_t Align4(uint64_t n) { return (n + 3) & ~uint64_t{3}; }

// Little-endian on every platform LibTorch supports.
template <typename T>
T Load(const char* p) {
  T value;
  std::memcpy(&value, p, sizeof(T));
  return value;
}

template <typename T>
void Append(std::string* out, T value) {
  out->append(reinterpret_cast<const char*>(&value), sizeof(T));
}

absl::Status ReadExactly(int fd, uint64_t offset, size_t n, char* out) {
  size_t done = 0;
  while (done < n) {
    const ssize_t got = pread(fd, out + done, n - done, static_cast<off_t>(offset + done));
    if (got <= 0)
      return absl::DataLossError(
          absl::StrCat("read of ", n, " bytes at offset ", offset, " failed"));
    done += static_cast<size_t>(got);
  }
  return absl::OkStatus();
}

// Whether a float label holds a non-negative whole number that fits an int32 (found by fuzzing:
// casting anything else to an integer is undefined).
bool IsIndex(float v) {
  return std::isfinite(v) && v >= 0 && v == std::floor(v) && v < 2147483647.0f;
}

// The class index a label encodes, or an error saying why it is not one.
absl::StatusOr<int64_t> ClassOf(const ImageRecord& record, int64_t identities) {
  if (record.labels.empty()) return absl::InvalidArgumentError("no label");
  const float v = record.labels[0];
  if (!IsIndex(v)) {
    return absl::InvalidArgumentError(absl::StrCat("label ", v, " is not a class index"));
  }
  const int64_t label = static_cast<int64_t>(v);
  if (identities > 0 && label >= identities) {
    return absl::OutOfRangeError(
        absl::StrCat("label ", label, " is beyond the ", identities, " identities of the header"));
  }
  return label;
}

struct Layout {
  std::vector<int64_t> image_keys;
  int64_t identities = 0;  // from the InsightFace header; 0 = unknown
};

// Reads record 0: the InsightFace header, when there is one.
absl::StatusOr<Layout> ReadLayout(const RecordIoReader& reader) {
  Layout layout;
  if (reader.Has(0)) {
    FTL_ASSIGN_OR_RETURN(const std::string payload, reader.Read(0));
    absl::StatusOr<ImageRecord> header = ParseImageRecord(payload);
    if (header.ok() && header->flag > 0 && header->labels.size() >= 2 && header->image.empty()) {
      const bool indices = IsIndex(header->labels[0]) && IsIndex(header->labels[1]);
      const int64_t images_end = indices ? static_cast<int64_t>(header->labels[0]) : -1;
      const int64_t identities_end = indices ? static_cast<int64_t>(header->labels[1]) : -1;
      if (images_end < 1 || identities_end < images_end) {
        return absl::DataLossError(absl::StrCat(reader.path(), ": record 0: header ranges [",
                                                header->labels[0], ", ", header->labels[1],
                                                ") make no sense"));
      }
      for (int64_t key : reader.keys()) {
        if (key >= 1 && key < images_end) layout.image_keys.push_back(key);
      }
      layout.identities = identities_end - images_end;
      return layout;
    }
  }
  layout.image_keys = reader.keys();
  return layout;
}

absl::StatusOr<int64_t> KeyOf(const std::string& name, const std::string& path) {
  int64_t key = -1;
  if (name.size() < 2 || name[0] != '#' || !absl::SimpleAtoi(name.substr(1), &key)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": sample \"", name, "\" is not of the form #key"));
  }
  return key;
}

class RecordIoSource : public EncodedImageSource {
 public:
  explicit RecordIoSource(std::unique_ptr<RecordIoReader> reader) : reader_(std::move(reader)) {}

  absl::StatusOr<std::string> Read(const std::string& sample_name) const override {
    FTL_ASSIGN_OR_RETURN(const int64_t key, KeyOf(sample_name, reader_->path()));
    if (!reader_->Has(key))
      return absl::NotFoundError(absl::StrCat(Locate(sample_name), ": no such record"));
    FTL_ASSIGN_OR_RETURN(const std::string payload, reader_->Read(key));
    FTL_ASSIGN_OR_RETURN(ImageRecord record, ParseImageRecord(payload));
    return std::move(record.image);
  }
  std::string Locate(const std::string& sample_name) const override {
    return absl::StrCat(reader_->path(), sample_name);
  }

 private:
  std::unique_ptr<RecordIoReader> reader_;
};

}  // namespace

std::unique_ptr<EncodedImageSource> RecordIoImageSource(std::unique_ptr<RecordIoReader> reader) {
  return std::make_unique<RecordIoSource>(std::move(reader));
}

std::string RecordIoIndexPathFor(const DataConfig& config) {
  return config.labels_path.empty() ? RecordIoIndexPath(config.path) : config.labels_path;
}

std::string RecordIoIndexPath(const std::string& rec_path) {
  const std::string suffix = ".rec";
  if (rec_path.size() > suffix.size() &&
      rec_path.compare(rec_path.size() - suffix.size(), suffix.size(), suffix) == 0) {
    return rec_path.substr(0, rec_path.size() - suffix.size()) + ".idx";
  }
  return rec_path + ".idx";
}

absl::StatusOr<std::unique_ptr<RecordIoReader>> RecordIoReader::Open(const std::string& rec_path,
                                                                     const std::string& idx_path) {
  std::unique_ptr<RecordIoReader> reader(new RecordIoReader());
  reader->rec_path_ = rec_path;
  reader->fd_ = open(rec_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (reader->fd_ < 0) return absl::NotFoundError(absl::StrCat(rec_path, ": cannot open"));
  struct stat st;
  if (fstat(reader->fd_, &st) != 0)
    return absl::InternalError(absl::StrCat(rec_path, ": cannot stat"));
  reader->file_size_ = static_cast<uint64_t>(st.st_size);
  std::ifstream idx(idx_path);
  if (!idx) return absl::NotFoundError(absl::StrCat(idx_path, ": cannot open the RecordIO index"));
  std::string line;
  int64_t line_number = 0;
  while (std::getline(idx, line)) {
    ++line_number;
    const absl::string_view text = absl::StripAsciiWhitespace(line);
    if (text.empty()) continue;
    const std::vector<absl::string_view> fields =
        absl::StrSplit(text, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    int64_t key = 0;
    uint64_t offset = 0;
    if (fields.size() != 2 || !absl::SimpleAtoi(fields[0], &key) ||
        !absl::SimpleAtoi(fields[1], &offset)) {
      return absl::InvalidArgumentError(
          absl::StrCat(idx_path, ":", line_number, ": expected \"key<TAB>offset\""));
    }
    if (offset + 8 > reader->file_size_) {
      return absl::OutOfRangeError(absl::StrCat(idx_path, ":", line_number, ": offset ", offset,
                                                " is past the end of ", rec_path, " (",
                                                reader->file_size_, " bytes)"));
    }
    if (!reader->offsets_.emplace(key, offset).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(idx_path, ":", line_number, ": key ", key, " appears twice"));
    }
  }
  if (reader->offsets_.empty())
    return absl::InvalidArgumentError(absl::StrCat(idx_path, ": no records"));
  for (const auto& entry : reader->offsets_) reader->keys_.push_back(entry.first);
  return reader;
}

RecordIoReader::~RecordIoReader() {
  if (fd_ >= 0) close(fd_);
}

absl::StatusOr<std::string> RecordIoReader::Read(int64_t key, size_t max_bytes) const {
  auto it = offsets_.find(key);
  if (it == offsets_.end())
    return absl::NotFoundError(absl::StrCat(rec_path_, ": no record with key ", key));
  std::string out;
  uint64_t pos = it->second;
  for (bool first = true;; first = false) {
    if (pos + 8 > file_size_) {
      return absl::DataLossError(
          absl::StrCat(rec_path_, ": offset ", pos, ": truncated record header (key ", key, ")"));
    }
    char head[8];
    if (absl::Status s = ReadExactly(fd_, pos, 8, head); !s.ok()) {
      return absl::DataLossError(absl::StrCat(rec_path_, ": ", s.message()));
    }
    const uint32_t magic = Load<uint32_t>(head), lrec = Load<uint32_t>(head + 4);
    if (magic != kRecordIoMagic) {
      return absl::DataLossError(
          absl::StrFormat("%s: offset %d: bad magic 0x%08x (key %d)", rec_path_, pos, magic, key));
    }
    const uint32_t cflag = lrec >> 29, length = lrec & kLengthMask;
    if (pos + 8 + length > file_size_) {
      return absl::DataLossError(absl::StrCat(rec_path_, ": offset ", pos, ": record of ", length,
                                              " bytes runs past the end of the file (", file_size_,
                                              " bytes; key ", key, ")"));
    }
    if (first ? (cflag == 2 || cflag == 3) : (cflag != 2 && cflag != 3)) {
      return absl::DataLossError(absl::StrCat(rec_path_, ": offset ", pos, ": continuation flag ",
                                              cflag, " out of sequence (key ", key, ")"));
    }
    if (!first && out.size() < max_bytes)
      Append(&out, kRecordIoMagic);  // the writer dropped it at the split
    const size_t start = out.size();
    const size_t wanted = start >= max_bytes ? 0 : std::min<size_t>(length, max_bytes - start);
    out.resize(start + wanted);
    if (absl::Status s = ReadExactly(fd_, pos + 8, wanted, out.data() + start); !s.ok()) {
      return absl::DataLossError(absl::StrCat(rec_path_, ": ", s.message()));
    }
    pos += 8 + Align4(length);
    if (cflag == 0 || cflag == 3) return out.size() > max_bytes ? out.substr(0, max_bytes) : out;
  }
}

absl::StatusOr<std::unique_ptr<RecordIoWriter>> RecordIoWriter::Create(
    const std::string& rec_path, const std::string& idx_path) {
  std::unique_ptr<RecordIoWriter> writer(new RecordIoWriter());
  writer->rec_path_ = rec_path;
  writer->idx_path_ = idx_path;
  writer->rec_ = std::fopen((rec_path + ".tmp").c_str(), "wb");
  writer->idx_ = std::fopen((idx_path + ".tmp").c_str(), "w");
  if (writer->rec_ == nullptr || writer->idx_ == nullptr) {
    return absl::InternalError(
        absl::StrCat("cannot create ", rec_path, ".tmp / ", idx_path, ".tmp"));
  }
  return writer;
}

RecordIoWriter::~RecordIoWriter() {
  if (rec_ != nullptr) std::fclose(rec_);
  if (idx_ != nullptr) std::fclose(idx_);
}

absl::Status RecordIoWriter::Write(int64_t key, const std::string& payload) {
  if (payload.size() > kLengthMask) return absl::InvalidArgumentError("record larger than 512 MiB");
  std::fprintf(idx_, "%lld\t%llu\n", static_cast<long long>(key),
               static_cast<unsigned long long>(offset_));
  auto part = [this](uint32_t cflag, const char* data, uint32_t length) {
    std::string bytes;
    Append(&bytes, kRecordIoMagic);
    Append(&bytes, (cflag << 29) | length);
    bytes.append(data, length);
    bytes.append(Align4(length) - length, '\0');
    offset_ += bytes.size();
    return std::fwrite(bytes.data(), 1, bytes.size(), rec_) == bytes.size();
  };
  // Split at every aligned occurrence of the magic, as dmlc-core's writer does.
  const uint32_t size = static_cast<uint32_t>(payload.size());
  uint32_t begin = 0;
  bool ok = true;
  for (uint32_t i = 0; i + 4 <= (size & ~3u); i += 4) {
    if (Load<uint32_t>(payload.data() + i) == kRecordIoMagic) {
      ok = ok && part(begin == 0 ? 1u : 2u, payload.data() + begin, i - begin);
      begin = i + 4;
    }
  }
  ok = ok && part(begin != 0 ? 3u : 0u, payload.data() + begin, size - begin);
  if (!ok) return absl::InternalError(absl::StrCat(rec_path_, ".tmp: write failed"));
  return absl::OkStatus();
}

absl::Status RecordIoWriter::Finish() {
  const bool flushed = std::fflush(rec_) == 0 && fsync(fileno(rec_)) == 0 &&
                       std::fflush(idx_) == 0 && fsync(fileno(idx_)) == 0;
  std::fclose(rec_);
  std::fclose(idx_);
  rec_ = idx_ = nullptr;
  if (!flushed) return absl::InternalError(absl::StrCat(rec_path_, ": cannot flush (disk full?)"));
  if (std::rename((rec_path_ + ".tmp").c_str(), rec_path_.c_str()) != 0 ||
      std::rename((idx_path_ + ".tmp").c_str(), idx_path_.c_str()) != 0) {
    return absl::InternalError(absl::StrCat(rec_path_, ": cannot rename into place"));
  }
  return absl::OkStatus();
}

absl::StatusOr<ImageRecord> ParseImageRecord(const std::string& payload) {
  if (payload.size() < kHeaderBytes) {
    return absl::DataLossError(absl::StrCat("image record of ", payload.size(),
                                            " bytes is shorter than its ", kHeaderBytes,
                                            "-byte header"));
  }
  ImageRecord record;
  record.flag = Load<uint32_t>(payload.data());
  const float label = Load<float>(payload.data() + 4);
  record.id = Load<uint64_t>(payload.data() + 8);
  record.id2 = Load<uint64_t>(payload.data() + 16);
  size_t image_start = kHeaderBytes;
  if (record.flag > 0) {
    if (record.flag > (payload.size() - kHeaderBytes) / 4) {
      return absl::DataLossError(absl::StrCat("image record header promises ", record.flag,
                                              " labels but has room for ",
                                              (payload.size() - kHeaderBytes) / 4));
    }
    for (uint32_t i = 0; i < record.flag; ++i)
      record.labels.push_back(Load<float>(payload.data() + kHeaderBytes + 4 * i));
    image_start += 4 * size_t{record.flag};
  } else {
    record.labels.push_back(label);
  }
  record.image = payload.substr(image_start);
  return record;
}

std::string PackImageRecord(const std::vector<float>& labels, uint64_t id,
                            const std::string& image) {
  std::string out;
  const uint32_t flag = labels.size() == 1 ? 0u : static_cast<uint32_t>(labels.size());
  Append(&out, flag);
  Append(&out, labels.size() == 1 ? labels[0] : 0.0f);
  Append(&out, id);
  Append(&out, uint64_t{0});
  if (flag > 0) {
    for (float v : labels) Append(&out, v);
  }
  out += image;
  return out;
}

absl::StatusOr<SourceListing> ListRecordIo(const std::string& rec_path, const std::string& idx_path,
                                           std::vector<std::string>* skipped,
                                           const LoadProgress& progress) {
  FTL_ASSIGN_OR_RETURN(std::unique_ptr<RecordIoReader> reader,
                       RecordIoReader::Open(rec_path, idx_path));
  return ListRecordIo(*reader, skipped, progress);
}

absl::StatusOr<SourceListing> ListRecordIo(const RecordIoReader& reader,
                                           std::vector<std::string>* skipped,
                                           const LoadProgress& progress) {
  FTL_ASSIGN_OR_RETURN(const Layout layout, ReadLayout(reader));
  // The label header of each record: IRHeader (24 bytes) plus `flag` floats; most records fit the
  // prefix, the rest (many labels) are read whole. Millions of small reads: in parallel.
  constexpr size_t kListPrefixBytes = 256;
  const int64_t n = static_cast<int64_t>(layout.image_keys.size());
  std::vector<absl::StatusOr<int64_t>> labels(n, absl::UnknownError("not read"));
  ParallelLoad(
      n,
      [&](int64_t i) {
        const int64_t key = layout.image_keys[i];
        absl::StatusOr<std::string> payload = reader.Read(key, kListPrefixBytes);
        if (payload.ok() && payload->size() == kListPrefixBytes &&
            Load<uint32_t>(payload->data()) > (kListPrefixBytes - kHeaderBytes) / 4) {
          payload = reader.Read(key);
        }
        absl::StatusOr<ImageRecord> record = payload.ok()
                                                 ? ParseImageRecord(*payload)
                                                 : absl::StatusOr<ImageRecord>(payload.status());
        labels[i] = record.ok() ? ClassOf(*record, layout.identities)
                                : absl::StatusOr<int64_t>(record.status());
      },
      progress);
  SourceListing listing;
  for (int64_t i = 0; i < n; ++i) {
    const std::string name = absl::StrCat("#", layout.image_keys[i]);
    if (!labels[i].ok()) {
      if (skipped != nullptr)
        skipped->push_back(absl::StrCat(name, ": ", labels[i].status().message()));
      continue;
    }
    listing.sample_names.push_back(name);
    listing.identities.push_back(absl::StrCat(*labels[i]));
  }
  if (listing.sample_names.empty())
    return absl::InvalidArgumentError(absl::StrCat(reader.path(), ": no usable image record"));
  return listing;
}

absl::StatusOr<Dataset> LoadRecordIo(const std::string& rec_path, const std::string& idx_path,
                                     const ImageOptions& options,
                                     const std::vector<std::string>* only,
                                     const LoadProgress& progress) {
  FTL_ASSIGN_OR_RETURN(std::unique_ptr<RecordIoReader> reader,
                       RecordIoReader::Open(rec_path, idx_path));
  FTL_ASSIGN_OR_RETURN(const Layout layout, ReadLayout(*reader));
  std::vector<int64_t> keys;
  if (only != nullptr) {
    for (const std::string& name : *only) {
      FTL_ASSIGN_OR_RETURN(const int64_t key, KeyOf(name, rec_path));
      keys.push_back(key);
    }
    std::sort(keys.begin(), keys.end());
    keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  } else {
    keys = layout.image_keys;
  }
  const int64_t n = static_cast<int64_t>(keys.size());
  torch::Tensor decoded =
      torch::empty({n, options.channels, options.size, options.size}, torch::kUInt8);
  std::vector<int64_t> labels(n, -1);
  std::vector<std::string> errors(n);
  ParallelLoad(
      n,
      [&](int64_t i) {
        absl::StatusOr<std::string> payload = reader->Read(keys[i]);
        absl::StatusOr<ImageRecord> record = payload.ok()
                                                 ? ParseImageRecord(*payload)
                                                 : absl::StatusOr<ImageRecord>(payload.status());
        absl::StatusOr<int64_t> label = record.ok() ? ClassOf(*record, layout.identities)
                                                    : absl::StatusOr<int64_t>(record.status());
        absl::StatusOr<torch::Tensor> image = label.ok()
                                                  ? DecodeImage(record->image, options)
                                                  : absl::StatusOr<torch::Tensor>(label.status());
        if (image.ok()) {
          decoded[i].copy_(*image);
          labels[i] = *label;
        } else {
          errors[i] = std::string(image.status().message());
        }
      },
      progress);
  Dataset dataset;
  std::vector<int64_t> kept, kept_labels;
  for (int64_t i = 0; i < n; ++i) {
    if (labels[i] < 0) {
      dataset.skipped_names.push_back(absl::StrCat("#", keys[i], " (", errors[i], ")"));
      continue;
    }
    kept.push_back(i);
    kept_labels.push_back(labels[i]);
    dataset.sample_names.push_back(absl::StrCat("#", keys[i]));
  }
  dataset.skipped_images = static_cast<int64_t>(dataset.skipped_names.size());
  if (kept.empty())
    return absl::InvalidArgumentError(
        absl::StrCat(rec_path, ": none of the ", n, " records is usable"));
  dataset.images = decoded.index_select(0, torch::tensor(kept, torch::kInt64));
  // Classes are the labels present, in label order, relabelled densely (a set without the
  // InsightFace header bounds labels only by 2^31: never one class per possible label).
  std::vector<int64_t> present = kept_labels;
  std::sort(present.begin(), present.end());
  present.erase(std::unique(present.begin(), present.end()), present.end());
  for (int64_t& label : kept_labels)
    label = std::lower_bound(present.begin(), present.end(), label) - present.begin();
  for (int64_t label : present) dataset.class_names.push_back(absl::StrCat(label));
  dataset.labels = torch::tensor(kept_labels, torch::kInt64);
  return dataset;
}

absl::StatusOr<int64_t> PackImageFolder(const std::string& root, const std::string& rec_path,
                                        const std::string& idx_path) {
  FTL_ASSIGN_OR_RETURN(const SourceListing listing, ListImageFolder(root));
  std::vector<std::string> identities = listing.identities;
  identities.erase(std::unique(identities.begin(), identities.end()),
                   identities.end());  // already grouped
  const int64_t n = static_cast<int64_t>(listing.sample_names.size());
  const int64_t c = static_cast<int64_t>(identities.size());
  FTL_ASSIGN_OR_RETURN(std::unique_ptr<RecordIoWriter> writer,
                       RecordIoWriter::Create(rec_path, idx_path));
  FTL_RETURN_IF_ERROR(writer->Write(
      0, PackImageRecord({static_cast<float>(n + 1), static_cast<float>(n + 1 + c)}, 0, "")));
  std::vector<int64_t> first_key(c + 1, n + 1);
  int64_t label = -1;
  for (int64_t i = 0; i < n; ++i) {
    if (i == 0 || listing.identities[i] != listing.identities[i - 1]) first_key[++label] = i + 1;
    absl::StatusOr<std::string> bytes = ReadFileToString(root + "/" + listing.sample_names[i]);
    if (!bytes.ok())
      return absl::DataLossError(absl::StrCat(root, "/", listing.sample_names[i], ": cannot read"));
    FTL_RETURN_IF_ERROR(
        writer->Write(i + 1, PackImageRecord({static_cast<float>(label)}, i + 1, *bytes)));
  }
  for (int64_t k = 0; k < c; ++k) {
    FTL_RETURN_IF_ERROR(writer->Write(
        n + 1 + k,
        PackImageRecord({static_cast<float>(first_key[k]), static_cast<float>(first_key[k + 1])},
                        n + 1 + k, "")));
  }
  FTL_RETURN_IF_ERROR(writer->Finish());
  return n;
}

}  // namespace ftl
