// RecordIO: input = ".idx text\n--\n.rec bytes". Lists, loads and parses every record, and streams
// the set (listing, every image gathered, the listing sent as bytes and back); any damage must come
// back as a status or a counted skip, never a crash, a hang or a label outside [0, classes). The
// .rec bytes are also fed to the listing decoder as a received message.
#include <cstdint>
#include <string>
#include <vector>

#include "common/data/image_stream.h"
#include "common/data/recordio.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string idx, rec;
  ftl::fuzz::SplitInput(data, size, &idx, &rec);
  const std::string idx_path = ftl::fuzz::WriteScratch("train.idx", idx.data(), idx.size());
  const std::string rec_path = ftl::fuzz::WriteScratch("train.rec", rec.data(), rec.size());

  auto reader = ftl::RecordIoReader::Open(rec_path, idx_path);
  if (reader.ok()) {
    for (int64_t key : (*reader)->keys()) {
      auto payload = (*reader)->Read(key);
      if (payload.ok()) (void)ftl::ParseImageRecord(*payload);
    }
  }
  std::vector<std::string> skipped;
  (void)ftl::ListRecordIo(rec_path, idx_path, &skipped);
  auto dataset = ftl::LoadRecordIo(rec_path, idx_path, ftl::fuzz::SmallImages());
  if (dataset.ok() && dataset->size() > 0) {
    const int64_t min_label = dataset->labels.min().item<int64_t>();
    const int64_t max_label = dataset->labels.max().item<int64_t>();
    if (min_label < 0 || max_label >= dataset->num_classes()) __builtin_trap();
  }
  ftl::DataConfig config;
  config.format = "recordio";
  config.path = rec_path;
  config.labels_path = idx_path;
  auto streamed = ftl::StreamSource(config, ftl::fuzz::SmallImages(), nullptr);
  if (streamed.ok() && streamed->size() > 0) {
    if (streamed->labels.min().item<int64_t>() < 0 ||
        streamed->labels.max().item<int64_t>() >= streamed->num_classes()) {
      __builtin_trap();
    }
    (void)ftl::GatherImages(*streamed, torch::arange(streamed->size(), torch::kInt64));
    auto received = ftl::DecodeStreamedListing(ftl::EncodeStreamedListing(*streamed), config,
                                               ftl::fuzz::SmallImages());
    if (!received.ok() || !torch::equal(received->labels, streamed->labels)) __builtin_trap();
  }
  (void)ftl::DecodeStreamedListing(rec, config, ftl::fuzz::SmallImages());
  return 0;
}
