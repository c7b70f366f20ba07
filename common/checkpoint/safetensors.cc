#include "common/checkpoint/safetensors.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/util/file.h"

namespace ftl {
namespace {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "safetensors data is little-endian: this build would need byte swaps");

// The safetensors reference implementation's own limit on the JSON header.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;
// Ours: no tensor here has more than 4; a deeper shape is damage, not weights.
constexpr int kMaxDims = 32;
// The largest integer a JSON number (a double) holds exactly.
constexpr double kMaxExactInteger = 9007199254740992.0;

struct Dtype {
  const char* name;
  torch::ScalarType type;
  int bytes;
};
constexpr Dtype kDtypes[] = {
    {"F64", torch::kFloat64, 8},   {"F32", torch::kFloat32, 4}, {"F16", torch::kFloat16, 2},
    {"BF16", torch::kBFloat16, 2}, {"I64", torch::kInt64, 8},   {"I32", torch::kInt32, 4},
    {"I16", torch::kInt16, 2},     {"I8", torch::kInt8, 1},     {"U8", torch::kUInt8, 1},
    {"BOOL", torch::kBool, 1},
};

const Dtype* DtypeOf(torch::ScalarType type) {
  for (const Dtype& d : kDtypes) {
    if (d.type == type) return &d;
  }
  return nullptr;
}

const Dtype* DtypeNamed(const std::string& name) {
  for (const Dtype& d : kDtypes) {
    if (name == d.name) return &d;
  }
  return nullptr;
}

void AppendJsonString(std::string& out, std::string_view text) {
  out += '"';
  for (const char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += absl::StrFormat("\\u%04x", static_cast<unsigned char>(c));
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

void PutU64(std::string& out, uint64_t value) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

uint64_t GetU64(const char* p) {
  uint64_t value = 0;
  for (int i = 0; i < 8; ++i) value |= uint64_t{static_cast<unsigned char>(p[i])} << (8 * i);
  return value;
}

// A JSON number that is a whole, non-negative, exactly represented integer.
bool AsCount(const google::protobuf::Value& value, uint64_t* out) {
  if (value.kind_case() != google::protobuf::Value::kNumberValue) return false;
  const double v = value.number_value();
  if (!(v >= 0 && v <= kMaxExactInteger) || std::floor(v) != v) return false;
  *out = static_cast<uint64_t>(v);
  return true;
}

struct Entry {
  std::string name;
  const Dtype* dtype;
  std::vector<int64_t> shape;
  uint64_t begin, end;
};

}  // namespace

absl::StatusOr<std::string> EncodeSafetensors(const NamedTensors& contents) {
  std::string header = "{";
  if (!contents.metadata.empty()) {
    header += "\"__metadata__\":{";
    bool first = true;
    for (const auto& [key, value] : contents.metadata) {
      if (!first) header += ',';
      first = false;
      AppendJsonString(header, key);
      header += ':';
      AppendJsonString(header, value);
    }
    header += '}';
  }
  std::vector<torch::Tensor> data;
  uint64_t offset = 0;
  for (const auto& [name, tensor] : contents.tensors) {
    if (name == "__metadata__" || !tensor.defined()) {
      return absl::InvalidArgumentError(
          absl::StrCat("safetensors: tensor '", name, "' is undefined or reserved"));
    }
    const Dtype* dtype = DtypeOf(tensor.scalar_type());
    if (dtype == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("safetensors: tensor '", name, "' has dtype ",
                                                     c10::toString(tensor.scalar_type()),
                                                     ", which the format does not carry"));
    }
    torch::Tensor cpu = tensor.detach().to(torch::kCPU).contiguous();
    const uint64_t bytes = static_cast<uint64_t>(cpu.numel()) * dtype->bytes;
    if (header.size() > 1) header += ',';
    AppendJsonString(header, name);
    absl::StrAppend(&header, ":{\"dtype\":\"", dtype->name, "\",\"shape\":[");
    for (int64_t d = 0; d < cpu.dim(); ++d) absl::StrAppend(&header, d ? "," : "", cpu.size(d));
    absl::StrAppend(&header, "],\"data_offsets\":[", offset, ",", offset + bytes, "]}");
    offset += bytes;
    data.push_back(std::move(cpu));
  }
  header += '}';
  header.append((8 - header.size() % 8) % 8, ' ');  // the data buffer starts 8-byte aligned
  std::string out;
  out.reserve(8 + header.size() + offset);
  PutU64(out, header.size());
  out += header;
  for (const torch::Tensor& t : data) {
    out.append(static_cast<const char*>(t.data_ptr()), t.numel() * t.element_size());
  }
  return out;
}

bool LooksLikeSafetensors(std::string_view bytes) {
  if (bytes.size() < 9) return false;
  const uint64_t n = GetU64(bytes.data());
  return n > 0 && n <= bytes.size() - 8 && n <= kMaxHeaderBytes && bytes[8] == '{';
}

absl::StatusOr<NamedTensors> DecodeSafetensors(std::string_view bytes, const std::string& source) {
  auto bad = [&](auto&&... parts) {
    return absl::DataLossError(absl::StrCat(
        "'", source, "': not a valid safetensors file: ", std::forward<decltype(parts)>(parts)...));
  };
  if (bytes.size() < 8) return bad("shorter than the 8-byte header length");
  const uint64_t header_bytes = GetU64(bytes.data());
  if (header_bytes > kMaxHeaderBytes) {
    return bad("header length ", header_bytes, " is above the format's 100 MB limit");
  }
  if (header_bytes > bytes.size() - 8) {
    return bad("header length ", header_bytes, " runs past the end of the ", bytes.size(),
               "-byte file");
  }
  const std::string json(bytes.substr(8, header_bytes));
  if (json.empty() || json[0] != '{') return bad("the header (byte 8) does not start with '{'");
  google::protobuf::Struct header;
  const auto parsed = google::protobuf::util::JsonStringToMessage(json, &header);
  if (!parsed.ok()) return bad("the header is not a JSON object: ", parsed.ToString());
  const std::string_view data = bytes.substr(8 + header_bytes);

  NamedTensors out;
  std::vector<Entry> entries;
  for (const auto& [name, value] : header.fields()) {
    if (value.kind_case() != google::protobuf::Value::kStructValue) {
      return bad("'", name, "' is not an object");
    }
    const auto& fields = value.struct_value().fields();
    if (name == "__metadata__") {
      for (const auto& [key, text] : fields) {
        if (text.kind_case() != google::protobuf::Value::kStringValue) {
          return bad("metadata '", key, "' is not a string");
        }
        out.metadata[key] = text.string_value();
      }
      continue;
    }
    const auto dtype_it = fields.find("dtype");
    const auto shape_it = fields.find("shape");
    const auto offsets_it = fields.find("data_offsets");
    if (dtype_it == fields.end() || shape_it == fields.end() || offsets_it == fields.end() ||
        shape_it->second.kind_case() != google::protobuf::Value::kListValue ||
        offsets_it->second.kind_case() != google::protobuf::Value::kListValue) {
      return bad("tensor '", name, "' lacks a dtype, shape or data_offsets list");
    }
    Entry entry{name, DtypeNamed(dtype_it->second.string_value()), {}, 0, 0};
    if (dtype_it->second.kind_case() != google::protobuf::Value::kStringValue ||
        entry.dtype == nullptr) {
      return bad("tensor '", name, "' has an unknown dtype");
    }
    const auto& dims = shape_it->second.list_value().values();
    if (dims.size() > kMaxDims) return bad("tensor '", name, "' has ", dims.size(), " dimensions");
    uint64_t size = static_cast<uint64_t>(entry.dtype->bytes);
    for (const auto& dim : dims) {
      uint64_t d = 0;
      if (!AsCount(dim, &d) || __builtin_mul_overflow(size, d, &size)) {
        return bad("tensor '", name, "' has a negative, fractional or overflowing shape");
      }
      entry.shape.push_back(static_cast<int64_t>(d));
    }
    const auto& offsets = offsets_it->second.list_value().values();
    if (offsets.size() != 2 || !AsCount(offsets[0], &entry.begin) ||
        !AsCount(offsets[1], &entry.end) || entry.begin > entry.end) {
      return bad("tensor '", name, "' has malformed data_offsets");
    }
    if (entry.end - entry.begin != size) {
      return bad("tensor '", name, "' spans ", entry.end - entry.begin, " bytes, its shape needs ",
                 size);
    }
    if (entry.end > data.size()) {
      return bad("tensor '", name, "' ends at data byte ", entry.end, ", past the ", data.size(),
                 "-byte buffer");
    }
    entries.push_back(std::move(entry));
  }
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return std::tie(a.begin, a.end) < std::tie(b.begin, b.end);
  });
  uint64_t next = 0;
  for (const Entry& e : entries) {
    if (e.begin != next) {
      return bad("tensor '", e.name, "' starts at data byte ", e.begin, " where ", next,
                 " was expected (overlapping or a hole)");
    }
    next = e.end;
  }
  if (next != data.size()) {
    return bad("the data buffer has ", data.size() - next, " bytes no tensor describes");
  }
  for (const Entry& e : entries) {
    const char* p = data.data() + e.begin;
    if (e.dtype->type == torch::kBool &&
        std::any_of(p, p + (e.end - e.begin), [](char b) { return b != 0 && b != 1; })) {
      return bad("bool tensor '", e.name, "' holds a byte other than 0 and 1");
    }
    torch::Tensor t = torch::empty(e.shape, torch::TensorOptions().dtype(e.dtype->type));
    if (e.end > e.begin) std::memcpy(t.data_ptr(), p, e.end - e.begin);
    out.tensors[e.name] = std::move(t);
  }
  return out;
}

absl::Status WriteSafetensorsFile(const std::string& path, const NamedTensors& contents) {
  absl::StatusOr<std::string> bytes = EncodeSafetensors(contents);
  if (!bytes.ok()) return bytes.status();
  return WriteFileAtomically(path, *bytes);
}

absl::StatusOr<NamedTensors> ReadSafetensorsFile(const std::string& path) {
  absl::StatusOr<std::string> bytes = ReadFileToString(path);
  if (!bytes.ok()) return bytes.status();
  return DecodeSafetensors(*bytes, path);
}

}  // namespace ftl
