// Image decoding (OpenCV behind DecodeImage): any bytes give a status or a C x S x S uint8 tensor.
#include <cstdint>
#include <string>

#include "common/data/image_decode.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const ftl::ImageOptions options = ftl::fuzz::SmallImages();
  auto image = ftl::DecodeImage(std::string(reinterpret_cast<const char*>(data), size), options);
  if (image.ok()) {
    if (image->dim() != 3 || image->size(0) != options.channels || image->size(1) != options.size ||
        image->size(2) != options.size || image->scalar_type() != torch::kUInt8) {
      __builtin_trap();
    }
  }
  return 0;
}
