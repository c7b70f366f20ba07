// The safetensors decoder (common/checkpoint/safetensors.h) on any bytes, and, where they decode,
// the embedding-export reader behind it (common/export/embedding_file.h: metadata, the network it
// names, the weights fitting it), as `model.init_from` and `ftl embed --model` read such files.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "common/checkpoint/safetensors.h"
#include "common/export/embedding_file.h"
#include "common/model/ftl_model.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

// scripts/make_fuzz_seeds.py asks for a real export (the small preset at 16x16) as a seed.
void MaybeWriteSeed() {
  const char* seed_path = std::getenv("FTL_FUZZ_WRITE_EMBEDDING");
  if (seed_path == nullptr) return;
  ftl::ModelShape shape = *ftl::ModelPreset("small");
  shape.input_size = 16;
  shape.feature_dim = 8;
  ftl::FtlModel model(shape);
  ftl::EmbeddingModuleOptions options;
  options.features = ftl::FeatureLayer::kF;
  if (!ftl::WriteEmbeddingFile(model, "small", shape, options, seed_path).ok()) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool seeded = (MaybeWriteSeed(), true);
  (void)seeded;
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  if (!ftl::DecodeSafetensors(bytes, "fuzz").ok()) return 0;
  const std::string path = ftl::fuzz::WriteScratch("fuzz.safetensors", bytes.data(), bytes.size());
  (void)ftl::ReadEmbeddingFile(path);
  return 0;
}
