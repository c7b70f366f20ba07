// MXNet / InsightFace RecordIO: `train.rec` + `train.idx`, the format MS1M-ArcFace, Glint360K
// and most face-recognition training sets are shipped in.
//
// .rec: records, each [magic 0xced7230a][lrec: cflag << 29 | length][payload][zero pad to 4].
//   A payload that contains the magic at a 4-byte aligned position is split there into parts
//   (cflag 1 = first, 2 = middle, 3 = last; the magic itself is dropped and restored on reading).
// .idx: text lines "key<TAB>byte offset of the record".
// Image payloads: IRHeader {uint32 flag; float label; uint64 id; uint64 id2} (24 bytes); when
//   flag > 0, `flag` float labels follow (the class is the first); then the JPEG/PNG bytes.
// InsightFace layout: record 0 is a header with flag > 0 and label = [first identity record,
//   end of identity records]; images are keys 1 .. label[0]-1; identity records hold the key
//   range of each identity's images.
//
// Damage is reported, never guessed around: a bad magic, a record running past the end of the file
// or an offset past it is an error naming the file and byte offset; a label that is not a class
// index (negative, fractional, NaN, beyond the identity count) makes that sample a counted skip.
#ifndef FTL_COMMON_DATA_RECORDIO_H_
#define FTL_COMMON_DATA_RECORDIO_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/data/dataset.h"

namespace ftl {

inline constexpr uint32_t kRecordIoMagic = 0xced7230a;

// Random access to the records of a .rec file by the keys of its .idx file. Thread-safe reads.
class RecordIoReader {
 public:
  static absl::StatusOr<std::unique_ptr<RecordIoReader>> Open(const std::string& rec_path,
                                                              const std::string& idx_path);
  ~RecordIoReader();

  const std::vector<int64_t>& keys() const { return keys_; }
  bool Has(int64_t key) const { return offsets_.count(key) > 0; }
  // The whole (reassembled) payload of the record at `key`. With `max_bytes`, only its first
  // max_bytes bytes are read (the framing of every part is still checked): listing a set needs
  // each record's label header, not its image.
  absl::StatusOr<std::string> Read(int64_t key, size_t max_bytes = SIZE_MAX) const;
  const std::string& path() const { return rec_path_; }

 private:
  RecordIoReader() = default;
  std::string rec_path_;
  int fd_ = -1;
  uint64_t file_size_ = 0;
  std::map<int64_t, uint64_t> offsets_;
  std::vector<int64_t> keys_;  // ascending
};

// Writes a .rec/.idx pair (both replaced atomically on Finish).
class RecordIoWriter {
 public:
  static absl::StatusOr<std::unique_ptr<RecordIoWriter>> Create(const std::string& rec_path,
                                                                const std::string& idx_path);
  ~RecordIoWriter();
  absl::Status Write(int64_t key, const std::string& payload);
  absl::Status Finish();

 private:
  RecordIoWriter() = default;
  std::string rec_path_, idx_path_;
  std::FILE* rec_ = nullptr;
  std::FILE* idx_ = nullptr;
  uint64_t offset_ = 0;
};

struct ImageRecord {
  uint32_t flag = 0;
  std::vector<float> labels;  // one label, or `flag` labels
  uint64_t id = 0, id2 = 0;
  std::string image;  // encoded image bytes
};

absl::StatusOr<ImageRecord> ParseImageRecord(const std::string& payload);
// An IRHeader with the given labels (flag = 0 for one label, else labels.size()) + image bytes.
std::string PackImageRecord(const std::vector<float>& labels, uint64_t id,
                            const std::string& image);

// The .idx beside a .rec: "x.rec" -> "x.idx".
std::string RecordIoIndexPath(const std::string& rec_path);
// The .idx a DataConfig means: data.labels_path, or the one beside data.path.
std::string RecordIoIndexPathFor(const DataConfig& config);

// Image keys and their identities (label as a decimal number), "#key" sample names. Labels that
// are not class indices are left out and reported in `skipped` (name and reason).
// Reads the records' label headers in parallel, calling `progress` now and then.
absl::StatusOr<SourceListing> ListRecordIo(const std::string& rec_path, const std::string& idx_path,
                                           std::vector<std::string>* skipped = nullptr,
                                           const LoadProgress& progress = nullptr);
// The same over an open reader.
absl::StatusOr<SourceListing> ListRecordIo(const RecordIoReader& reader,
                                           std::vector<std::string>* skipped = nullptr,
                                           const LoadProgress& progress = nullptr);

// Decodes the images (all, or `only`: "#key" names). Undecodable images, damaged records and bad
// labels are counted skips listed in skipped_names; a damaged index is an error.
absl::StatusOr<Dataset> LoadRecordIo(const std::string& rec_path, const std::string& idx_path,
                                     const ImageOptions& options,
                                     const std::vector<std::string>* only = nullptr,
                                     const LoadProgress& progress = nullptr);

// Packs an image folder as InsightFace-layout RecordIO (images keep their encoded bytes; labels
// are identity indices in name order). Returns the number of images written.
absl::StatusOr<int64_t> PackImageFolder(const std::string& root, const std::string& rec_path,
                                        const std::string& idx_path);

}  // namespace ftl

#endif  // FTL_COMMON_DATA_RECORDIO_H_
