// Streaming: images read from their source when a batch is drawn, instead of decoded up front.
//
// A streamed Dataset (data.streaming) holds only labels, names and yaw; its `stream` reads a
// sample's encoded bytes by name ("identity/file" in a folder, "#key" in RecordIO) and decodes
// them at the model's input size. Memory per rank is then independent of the dataset size, and a
// rank reads only the rows of its slice of each global batch and of its UpdateStats stripe — the
// per-rank shards of a data-parallel job — while every rank still draws the same global batches.
#ifndef FTL_COMMON_DATA_IMAGE_STREAM_H_
#define FTL_COMMON_DATA_IMAGE_STREAM_H_

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <unordered_set>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/data/dataset.h"

namespace ftl {

// Encoded image bytes by sample name. Read must be safe to call from several threads.
class EncodedImageSource {
 public:
  virtual ~EncodedImageSource() = default;
  virtual absl::StatusOr<std::string> Read(const std::string& sample_name) const = 0;
  // Where a sample lives, for messages ("root/identity/file", "train.rec#12").
  virtual std::string Locate(const std::string& sample_name) const = 0;
};

// `root/<identity>/<file>` files.
std::unique_ptr<EncodedImageSource> FolderImageSource(const std::string& root);
// The image payloads of a RecordIO pair (the label header is checked and dropped).
class RecordIoReader;
std::unique_ptr<EncodedImageSource> RecordIoImageSource(std::unique_ptr<RecordIoReader> reader);

// A source plus the decoding options, and the samples found unreadable so far (each is reported
// once and not read again).
class ImageStream {
 public:
  ImageStream(std::unique_ptr<EncodedImageSource> source, const ImageOptions& options);

  // [C, S, S] uint8, or the reason the sample cannot be used.
  absl::StatusOr<torch::Tensor> Decode(const std::string& sample_name) const;
  const ImageOptions& options() const { return options_; }
  const EncodedImageSource& source() const { return *source_; }

  bool IsKnownBad(const std::string& sample_name) const;
  // Returns true the first time a sample is marked.
  bool MarkBad(const std::string& sample_name);
  int64_t bad_count() const;

 private:
  std::unique_ptr<EncodedImageSource> source_;
  ImageOptions options_;
  mutable absl::Mutex mutex_;  // loader threads mark and test samples
  std::unordered_set<std::string> bad_ ABSL_GUARDED_BY(mutex_);
};

// Thrown by image gathers of a streamed dataset when a batch cannot be filled at all (every image
// of an identity unreadable, the source gone). Training cannot continue meaningfully; the worker
// turns it into a DataLoss error at the phase boundary and the job resumes from its checkpoint
// once the data is repaired.
class DataReadError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The images of `rows` ([n] int64) as [n, C, S, S] uint8: a slice of `images` in memory, or read
// and decoded from `stream`. A streamed sample that cannot be decoded is reported (log, once),
// counted in stream->bad_count(), and replaced by the next readable sample of the same identity
// (in row order, wrapping), so labels stay right and the batch keeps its size; DataLoss when an
// identity has no readable sample left.
absl::StatusOr<torch::Tensor> GatherImages(const Dataset& dataset, const torch::Tensor& rows);

// Lists the source a DataConfig names (only the `only` samples when set) into a streamed Dataset:
// labels, names, classes as the in-memory loaders would give them (identity name order; numeric
// for RecordIO), nothing decoded. IDX is not streamed (InvalidArgument).
// `progress` sees the RecordIO headers read.
absl::StatusOr<Dataset> StreamSource(const DataConfig& config, const ImageOptions& options,
                                     const std::vector<std::string>* only,
                                     const LoadProgress& progress = nullptr);

// A streamed dataset's listing (labels, names, classes, yaw, regular classes, skips) as bytes, and
// back, so that one rank lists a large source (millions of RecordIO header reads) and the others
// receive it; the receiver opens the source itself. Decoding checks every length against the
// bytes: a damaged message is an error, never a wrong label.
std::string EncodeStreamedListing(const Dataset& dataset);
absl::StatusOr<Dataset> DecodeStreamedListing(const std::string& bytes, const DataConfig& config,
                                              const ImageOptions& options);

}  // namespace ftl

#endif  // FTL_COMMON_DATA_IMAGE_STREAM_H_
