#include "common/checkpoint/checkpoint_file.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace ftl {
namespace {

namespace fs = std::filesystem;

constexpr char kMagic[8] = {'F', 'T', 'L', 'C', 'K', 'P', 'T', '1'};
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

absl::Status ErrnoError(const std::string& what, const std::string& path) {
  return absl::InternalError(absl::StrCat(what, " '", path, "': ", std::strerror(errno)));
}

absl::Status WriteAll(int fd, const std::string& data, const std::string& path) {
  size_t written = 0;
  while (written < data.size()) {
    const ssize_t n = ::write(fd, data.data() + written, data.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("cannot write", path);
    }
    written += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status WriteCheckpointFile(const std::string& path,
                                 torch::serialize::OutputArchive& archive) {
  std::ostringstream payload_stream;
  try {
    archive.save_to(payload_stream);
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("cannot serialise checkpoint: ", e.what_without_backtrace()));
  }
  const std::string payload = payload_stream.str();
  std::string file(kMagic, sizeof(kMagic));
  PutLittleEndian(file, payload.size(), 8);
  file.append(4, '\0');
  file += payload;
  const uint32_t crc = Crc32(file, kHeaderBytes);
  for (int i = 0; i < 4; ++i) file[16 + i] = static_cast<char>((crc >> (8 * i)) & 0xff);

  const fs::path target(path);
  const std::string temp = absl::StrCat(path, ".tmp.", ::getpid());
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoError("cannot create", temp);
  absl::Status status = WriteAll(fd, file, temp);
  if (status.ok() && ::fsync(fd) != 0) status = ErrnoError("cannot fsync", temp);
  if (::close(fd) != 0 && status.ok()) status = ErrnoError("cannot close", temp);
  if (status.ok() && ::rename(temp.c_str(), path.c_str()) != 0) {
    status = ErrnoError("cannot rename into place", path);
  }
  if (!status.ok()) {
    ::unlink(temp.c_str());
    return status;
  }
  const std::string dir = target.has_parent_path() ? target.parent_path().string() : ".";
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
  return absl::OkStatus();
}

absl::Status ReadCheckpointFile(const std::string& path, torch::serialize::InputArchive* archive,
                                c10::optional<torch::Device> device) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("checkpoint '", path, "': cannot open"));
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string file = buffer.str();
  if (file.size() < sizeof(kMagic) || std::memcmp(file.data(), kMagic, sizeof(kMagic)) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("checkpoint '", path, "': not an FTL checkpoint (bad magic)"));
  }
  if (file.size() < kHeaderBytes) {
    return absl::DataLossError(absl::StrCat("checkpoint '", path, "': truncated header"));
  }
  const uint64_t length = GetLittleEndian(file.data() + 8, 8);
  if (file.size() - kHeaderBytes != length) {
    return absl::DataLossError(absl::StrCat("checkpoint '", path, "': truncated or padded: header says ",
                                            length, " payload bytes, file has ",
                                            file.size() - kHeaderBytes));
  }
  if (static_cast<uint32_t>(GetLittleEndian(file.data() + 16, 4)) != Crc32(file, kHeaderBytes)) {
    return absl::DataLossError(absl::StrCat("checkpoint '", path, "': corrupt (checksum mismatch)"));
  }
  std::istringstream payload(file.substr(kHeaderBytes));
  try {
    archive->load_from(payload, device);
  } catch (const c10::Error& e) {
    return absl::DataLossError(
        absl::StrCat("checkpoint '", path, "': unreadable archive: ", e.what_without_backtrace()));
  } catch (const std::exception& e) {
    // The TorchScript reader also throws torch::jit::ErrorReport and others (found by fuzzing).
    return absl::DataLossError(absl::StrCat("checkpoint '", path, "': unreadable archive: ", e.what()));
  }
  return absl::OkStatus();
}

std::vector<std::string> ListCheckpoints(const std::string& dir) {
  std::vector<std::string> files;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.is_regular_file() && entry.path().extension() == ".ftlckpt") {
      files.push_back(entry.path().string());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

void PruneCheckpoints(const std::string& dir, int keep) {
  std::vector<std::string> files = ListCheckpoints(dir);
  for (size_t i = 0; i + keep < files.size(); ++i) {
    std::error_code ec;
    fs::remove(files[i], ec);
  }
}

}  // namespace ftl
