#include "common/checkpoint/checkpoint_file.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/util/file.h"

namespace ftl {
namespace {

constexpr char kMagic[8] = {'F', 'T', 'L', 'C', 'K', 'P', 'T', '2'};
// Format 1's frame held a LibTorch archive: recognised only to be refused.
constexpr char kArchiveMagic[8] = {'F', 'T', 'L', 'C', 'K', 'P', 'T', '1'};
constexpr size_t kHeaderBytes = sizeof(kMagic) + 8 + 4;

void PutLittleEndian(std::string& out, uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

uint64_t GetLittleEndian(const char* p, int bytes) {
  uint64_t value = 0;
  for (int i = 0; i < bytes; ++i) value |= uint64_t{static_cast<unsigned char>(p[i])} << (8 * i);
  return value;
}

uint32_t Crc32(const std::string& data, size_t offset) {
  uLong crc = crc32(0L, Z_NULL, 0);
  const auto* p = reinterpret_cast<const Bytef*>(data.data() + offset);
  size_t left = data.size() - offset;
  while (left > 0) {
    const uInt chunk = static_cast<uInt>(std::min<size_t>(left, 1u << 30));
    crc = crc32(crc, p, chunk);
    p += chunk;
    left -= chunk;
  }
  return static_cast<uint32_t>(crc);
}

}  // namespace

absl::Status WriteCheckpointFile(const std::string& path, const NamedTensors& contents) {
  absl::StatusOr<std::string> payload = EncodeSafetensors(contents);
  if (!payload.ok()) {
    return absl::InternalError(
        absl::StrCat("cannot serialise checkpoint '", path, "': ", payload.status().message()));
  }
  std::string file(kMagic, sizeof(kMagic));
  PutLittleEndian(file, payload->size(), 8);
  file.append(4, '\0');
  file += *payload;
  const uint32_t crc = Crc32(file, kHeaderBytes);
  for (int i = 0; i < 4; ++i) file[16 + i] = static_cast<char>((crc >> (8 * i)) & 0xff);

  return WriteFileAtomically(path, file);
}

bool LooksLikeCheckpoint(std::string_view bytes) {
  return bytes.size() >= sizeof(kMagic) &&
         (std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) == 0 ||
          std::memcmp(bytes.data(), kArchiveMagic, sizeof(kArchiveMagic)) == 0);
}

absl::StatusOr<NamedTensors> ReadCheckpointFile(const std::string& path) {
  absl::StatusOr<std::string> read = ReadFileToString(path);
  if (absl::IsNotFound(read.status())) {
    return absl::NotFoundError(absl::StrCat("checkpoint '", path, "': cannot open"));
  }
  if (!read.ok()) return read.status();
  const std::string& file = *read;
  if (file.size() >= sizeof(kArchiveMagic) &&
      std::memcmp(file.data(), kArchiveMagic, sizeof(kArchiveMagic)) == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "checkpoint '", path,
        "' is format 1, a LibTorch archive: that is a TorchScript module, whose code runs while "
        "it loads, so this build does not open it (it reads format 2, tensors only). Train "
        "again, or load it with the build that wrote it and only if you trust the file"));
  }
  if (file.size() < sizeof(kMagic) || std::memcmp(file.data(), kMagic, sizeof(kMagic)) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("checkpoint '", path, "': not an FTL checkpoint (bad magic)"));
  }
  if (file.size() < kHeaderBytes) {
    return absl::DataLossError(absl::StrCat("checkpoint '", path, "': truncated header"));
  }
  const uint64_t length = GetLittleEndian(file.data() + 8, 8);
  if (file.size() - kHeaderBytes != length) {
    return absl::DataLossError(
        absl::StrCat("checkpoint '", path, "': truncated or padded: header says ", length,
                     " payload bytes, file has ", file.size() - kHeaderBytes));
  }
  if (static_cast<uint32_t>(GetLittleEndian(file.data() + 16, 4)) != Crc32(file, kHeaderBytes)) {
    return absl::DataLossError(
        absl::StrCat("checkpoint '", path, "': corrupt (checksum mismatch)"));
  }
  // Behind a valid CRC a bad payload is still refused (DataLoss naming the path and the entry).
  return DecodeSafetensors(std::string_view(file).substr(kHeaderBytes), path);
}

}  // namespace ftl
