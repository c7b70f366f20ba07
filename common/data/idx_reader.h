// IDX files (MNIST / Fashion-MNIST): an image file and a label file, gzip or raw.
#ifndef FTL_COMMON_DATA_IDX_READER_H_
#define FTL_COMMON_DATA_IDX_READER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/data/dataset.h"

namespace ftl {

// Reads an IDX image file (ubyte, N x H x W) and its label file (ubyte, N), gzip or raw. A short
// or malformed file is an error naming the file and byte offset. max_images > 0 keeps the first.
// With `only` ("#index" names), just those samples are kept; an index past the end is an error.
absl::StatusOr<Dataset> LoadIdx(const std::string& images_path, const std::string& labels_path,
                                const ImageOptions& options, int64_t max_images = 0,
                                const std::vector<std::string>* only = nullptr);

// Lists an IDX pair (labels only are decoded).
absl::StatusOr<SourceListing> ListIdx(const std::string& images_path,
                                      const std::string& labels_path, int64_t max_images = 0);

}  // namespace ftl

#endif  // FTL_COMMON_DATA_IDX_READER_H_
