// IDX: input = "labels file\n--\nimages file" (each gzip or raw). Must give a status or a dataset
// whose labels index its classes.
#include <cstdint>
#include <string>

#include "common/data/dataset.h"
#include "common/data/idx_reader.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string labels, images;
  ftl::fuzz::SplitInput(data, size, &labels, &images);
  const std::string labels_path =
      ftl::fuzz::WriteScratch("labels-idx1-ubyte", labels.data(), labels.size());
  const std::string images_path =
      ftl::fuzz::WriteScratch("images-idx3-ubyte", images.data(), images.size());
  (void)ftl::ListIdx(images_path, labels_path);
  auto dataset =
      ftl::LoadIdx(images_path, labels_path, ftl::fuzz::SmallImages(), /*max_images=*/64);
  if (dataset.ok() && dataset->size() > 0) {
    if (dataset->labels.min().item<int64_t>() < 0 ||
        dataset->labels.max().item<int64_t>() >= dataset->num_classes()) {
      __builtin_trap();
    }
    if (dataset->images.size(0) != dataset->labels.size(0)) __builtin_trap();
  }
  return 0;
}
