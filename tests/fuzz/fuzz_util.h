// Shared by the libFuzzer targets: a per-process scratch folder on tmpfs for readers that take
// paths, and small image options so decoding stays cheap.
#ifndef FTL_TESTS_FUZZ_FUZZ_UTIL_H_
#define FTL_TESTS_FUZZ_FUZZ_UTIL_H_

#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "common/data/dataset.h"

namespace ftl::fuzz {

// Removed again when the process exits normally.
struct ScratchDirectory {
  std::string path;
  ScratchDirectory() {
    const char* shm = std::filesystem::exists("/dev/shm") ? "/dev/shm" : "/tmp";
    path = std::string(shm) + "/ftl_fuzz_" + std::to_string(::getpid());
    std::filesystem::create_directories(path);
  }
  ~ScratchDirectory() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

inline const std::string& ScratchDir() {
  static const ScratchDirectory dir;
  return dir.path;
}

inline std::string WriteScratch(const std::string& name, const char* data, size_t size) {
  const std::string path = ScratchDir() + "/" + name;
  std::ofstream(path, std::ios::binary | std::ios::trunc)
      .write(data, static_cast<std::streamsize>(size));
  return path;
}

inline ImageOptions SmallImages() {
  ImageOptions options;
  options.size = 8;
  options.channels = 1;
  return options;
}

// Splits fuzz input at the first "\n--\n": the part before and the part after (all of it when the
// separator is missing).
inline void SplitInput(const uint8_t* data, size_t size, std::string* first, std::string* second) {
  const std::string all(reinterpret_cast<const char*>(data), size);
  const size_t cut = all.find("\n--\n");
  if (cut == std::string::npos) {
    *first = "";
    *second = all;
  } else {
    *first = all.substr(0, cut);
    *second = all.substr(cut + 4);
  }
}

}  // namespace ftl::fuzz

#endif  // FTL_TESTS_FUZZ_FUZZ_UTIL_H_
