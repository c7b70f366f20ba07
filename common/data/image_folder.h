// Image folders: root/<identity>/<image>, one sub-folder per identity (LFW, Yale B, a user's set).
#ifndef FTL_COMMON_DATA_IMAGE_FOLDER_H_
#define FTL_COMMON_DATA_IMAGE_FOLDER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/data/dataset.h"

namespace ftl {

// Lists `root/<identity>/<image>` (PGM, PPM, PNG, JPEG, BMP, TIFF) in name order without decoding.
absl::StatusOr<SourceListing> ListImageFolder(const std::string& root);

// The listing of the samples `names` ("identity/file") of a folder: sorted, duplicates dropped,
// the files not touched (a missing one shows when it is read).
absl::StatusOr<SourceListing> ListImageFolderSamples(const std::string& root,
                                                     const std::vector<std::string>& names);

// Reads `root/<identity>/<image>`. Identities and images are taken in name order, so labels are
// stable. An unreadable image is skipped and listed in skipped_names; a root without any
// readable image is an error. With `only`, just those samples (names relative to root) are read;
// a listed file that is missing counts as skipped.
absl::StatusOr<Dataset> LoadImageFolder(const std::string& root, const ImageOptions& options,
                                        const LoadProgress& progress = nullptr,
                                        const std::vector<std::string>* only = nullptr);

}  // namespace ftl

#endif  // FTL_COMMON_DATA_IMAGE_FOLDER_H_
