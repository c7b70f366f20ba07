// Checkpoint loading: input byte 0 picks the mode. Even: the bytes are the whole file (the frame's
// magic, length and CRC checks). Odd: the rest is wrapped in a valid frame, so the fuzzer reaches
// the safetensors decoder, the schema's entry checks and Trainer::LoadCheckpoint's identity,
// model and optimizer checks behind the CRC; every third input is also read as a trained model
// (LoadTrainedModel: export, embed) and as model.init_from.
#include <zlib.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

#include "common/comm/communicator.h"
#include "common/train/trained_model.h"
#include "common/train/trainer.h"
#include "tests/fuzz/fuzz_util.h"
#include "tests/test_util.h"

namespace {

std::string Framed(const std::string& payload) {
  std::string file = "FTLCKPT2";
  for (int i = 0; i < 8; ++i)
    file.push_back(static_cast<char>((uint64_t{payload.size()} >> (8 * i)) & 0xff));
  const uLong crc = crc32(crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(payload.data()),
                          static_cast<uInt>(payload.size()));
  for (int i = 0; i < 4; ++i) file.push_back(static_cast<char>((crc >> (8 * i)) & 0xff));
  return file + payload;
}

struct Fixture {
  ftl::JobConfig config = ftl::testing::TinyJobConfig();
  ftl::Dataset dataset = ftl::testing::SyntheticDataset({6, 6, 2});
  std::unique_ptr<ftl::Communicator> comm = ftl::CreateLocalCommunicator();
  std::unique_ptr<ftl::Trainer> trainer;
  Fixture() {
    trainer = std::make_unique<ftl::Trainer>(config, dataset, *comm);
    // scripts/make_fuzz_seeds.py asks for a real checkpoint of this fixture as a seed.
    if (const char* seed_path = std::getenv("FTL_FUZZ_WRITE_CHECKPOINT")) {
      trainer->Pretrain(1);
      trainer->UpdateStats();
      if (!trainer->SaveCheckpoint(seed_path, 3).ok()) std::abort();
    }
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Fixture* fixture = new Fixture();
  if (size == 0) return 0;
  const std::string rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::string file = (data[0] & 1) ? Framed(rest) : rest;
  const std::string path = ftl::fuzz::WriteScratch("fuzz.ftlckpt", file.data(), file.size());
  (void)fixture->trainer->LoadCheckpoint(path);
  if (data[0] % 3 == 1) {
    (void)ftl::LoadTrainedModel(path);
    (void)fixture->trainer->FineTuneFrom(path);
  }
  return 0;
}
