// Labelled image sets in memory, and the readers that build them.
//
// A Dataset holds every image decoded once at the model's input size as uint8 (N x C x S x S):
// cheap for sets like Yale B (7 MB) or LFW (160 MB at 64x64 colour). For sets that do not fit
// (MS1M: 5.8M images), a streamed Dataset holds only labels and names and reads each batch's images
// when drawn (image_stream.h). Either way every rank knows every sample's label, so global batches
// are drawn identically on all ranks. The readers: image_folder.h, idx_reader.h, recordio.h;
// streaming: image_stream.h.
#ifndef FTL_COMMON_DATA_DATASET_H_
#define FTL_COMMON_DATA_DATASET_H_

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/config/job_config.h"

namespace ftl {

class ImageStream;

struct Dataset {
  torch::Tensor images;  // [N, C, S, S] uint8; undefined when streamed
  // Set when streamed (see image_stream.h): images are read from here, a batch at a time. Shared
  // by copies, like the tensors.
  std::shared_ptr<ImageStream> stream;
  torch::Tensor labels;  // [N] int64 in [0, num_classes)
  torch::Tensor yaw;     // [N] float32 degrees (NaN: unknown), or undefined when no yaw is known
  std::vector<std::string> class_names;   // label -> identity name
  std::vector<std::string> sample_names;  // image path relative to the root, or "#index" for IDX
  int64_t skipped_images = 0;             // unreadable images left out
  std::vector<std::string> skipped_names;
  torch::Tensor regular_classes;  // [N_c] bool when the config lists the regular identities

  int64_t size() const { return labels.defined() ? labels.size(0) : 0; }
  int64_t num_classes() const { return static_cast<int64_t>(class_names.size()); }
  // S, the side of the (square) images, held or streamed.
  int64_t image_size() const;
  // Images per class: [N_c] int64.
  torch::Tensor ClassCounts() const;
};

struct ImageOptions {
  int size = 64;             // output side S
  int channels = 1;          // 1 grey, 3 colour (RGB order)
  double center_crop = 1.0;  // fraction of the shorter side kept before resizing
};

// The decoding options a job's data and model call for (input size, channels, centre crop).
ImageOptions ImageOptionsFor(const DataConfig& data, const ModelShape& shape);

// Called now and then during long loads: (images done, images total).
using LoadProgress = std::function<void(int64_t, int64_t)>;

// The samples of a source without their pixels, in source order: sample_names[i] is what
// Dataset::sample_names would hold ("identity/file.jpg" for folders, "#index" for IDX) and
// identities[i] its identity (the folder name, or the IDX label as a decimal number).
struct SourceListing {
  std::vector<std::string> sample_names;
  std::vector<std::string> identities;
};

// Lists the source a DataConfig names (format, path, labels_path, max_images; not the manifest).
absl::StatusOr<SourceListing> ListSource(const DataConfig& config);

// Manifest files: one sample name per line (as in SourceListing), blank lines ignored. They
// select images of a source without copying them (see `ftl split`).
absl::StatusOr<std::vector<std::string>> ReadManifest(const std::string& path);
// Writes atomically (temporary file, then rename).
absl::Status WriteManifest(const std::string& path, const std::vector<std::string>& sample_names);

// Reads the samples `only` (all when null) of the source a DataConfig names, at `options`.
absl::StatusOr<Dataset> LoadSource(const DataConfig& config, const ImageOptions& options,
                                   const std::vector<std::string>* only,
                                   const LoadProgress& progress = nullptr);

// Reads "name,yaw_degrees" lines (an optional header line is skipped) and sets dataset->yaw;
// names are sample_names. Samples without a line get yaw NaN (unknown: they fail the filter).
absl::Status AttachYaw(const std::string& csv_path, Dataset* dataset);

// Keeps the `max_classes` classes with the most images (ties by name), relabelled densely.
Dataset KeepLargestClasses(const Dataset& dataset, int64_t max_classes);

// Cuts the `cut_classes` classes with the fewest images (ties by name) to `keep_images` images
// each, chosen with `seed`; other classes are untouched. Labels keep their meaning.
Dataset CutSmallestClasses(const Dataset& dataset, int64_t cut_classes, int64_t keep_images,
                           uint64_t seed);

// Applies a DataConfig: reads (the manifest's samples when one is set) into memory, or lists them
// for streaming (data.streaming), attaches yaw, keeps/cuts classes.
absl::StatusOr<Dataset> LoadDataset(const DataConfig& config, const ModelShape& shape,
                                    uint64_t seed, const LoadProgress& progress = nullptr);

// [N_c] bool: true for regular classes, false for UR: dataset.regular_classes when set,
// otherwise the classes with more than ur_max_images images.
torch::Tensor RegularClassMask(const Dataset& dataset, int ur_max_images);

// Rows `indices` of the images as float32 in [0, 1]. For a streamed dataset, see GatherImages;
// throws DataReadError when it fails.
torch::Tensor ImageBatch(const Dataset& dataset, const torch::Tensor& indices);

}  // namespace ftl

#endif  // FTL_COMMON_DATA_DATASET_H_
