// common/checkpoint/safetensors: the bytes are the format's (checked against a file spelled out by
// hand from the format's description, and against Hugging Face's own library in
// safetensors_interop_test.sh), every dtype round-trips, and damaged or hostile files are refused
// naming what is wrong, never half-read.
#include "common/checkpoint/safetensors.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

namespace ftl {
namespace {

std::string U64(uint64_t v) {
  std::string out;
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  return out;
}

// A file spelled out by hand: header length, JSON, data.
std::string File(const std::string& json, const std::string& data) {
  return U64(json.size()) + json + data;
}

std::string Floats(std::initializer_list<float> values) {
  std::string out(values.size() * 4, '\0');
  std::memcpy(out.data(), values.begin(), out.size());
  return out;
}

TEST(SafetensorsTest, WritesTheFormatsBytes) {
  NamedTensors contents;
  contents.tensors["a"] = torch::tensor({1.0f, 2.0f});
  contents.tensors["b"] = torch::tensor({int64_t{7}}).reshape({1, 1});
  contents.metadata["k"] = "v\"\n";
  absl::StatusOr<std::string> bytes = EncodeSafetensors(contents);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  std::string json =
      "{\"__metadata__\":{\"k\":\"v\\\"\\n\"},"
      "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
      "\"b\":{\"dtype\":\"I64\",\"shape\":[1,1],\"data_offsets\":[8,16]}}";
  json.append((8 - json.size() % 8) % 8, ' ');
  int64_t seven = 7;
  std::string data = Floats({1.0f, 2.0f}) + std::string(reinterpret_cast<char*>(&seven), 8);
  EXPECT_EQ(*bytes, File(json, data));
  EXPECT_EQ((*bytes).size() % 8, 0u);
}

TEST(SafetensorsTest, ReadsAHandWrittenFile) {
  // Key order, spacing and a zero-size tensor as another writer may put them.
  const std::string json =
      "{ \"w\": {\"shape\": [2, 2], \"dtype\": \"F32\", \"data_offsets\": [0, 16]},"
      "  \"empty\": {\"dtype\": \"U8\", \"shape\": [0], \"data_offsets\": [16, 16]},"
      "  \"__metadata__\": {\"format\": \"pt\"} }";
  absl::StatusOr<NamedTensors> read =
      DecodeSafetensors(File(json, Floats({1, 2, 3, 4})), "hand.safetensors");
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_TRUE(torch::equal(read->tensors.at("w"), torch::tensor({{1.0f, 2.0f}, {3.0f, 4.0f}})));
  EXPECT_EQ(read->tensors.at("empty").numel(), 0);
  EXPECT_EQ(read->tensors.at("empty").scalar_type(), torch::kUInt8);
  EXPECT_EQ(read->metadata.at("format"), "pt");
}

TEST(SafetensorsTest, EveryDtypeRoundTripsWithItsShape) {
  NamedTensors contents;
  int i = 0;
  for (torch::ScalarType type :
       {torch::kFloat64, torch::kFloat32, torch::kFloat16, torch::kBFloat16, torch::kInt64,
        torch::kInt32, torch::kInt16, torch::kInt8, torch::kUInt8, torch::kBool}) {
    torch::Tensor t =
        torch::arange(24).reshape({2, 3, 4}).remainder(type == torch::kBool ? 2 : 100);
    // A transposed (non-contiguous) tensor is written row-major in its logical order.
    contents.tensors["t" + std::to_string(i++)] = t.to(type).transpose(0, 2);
  }
  contents.tensors["scalar"] = torch::tensor(3.5);
  contents.metadata["unicode"] = "caf\xc3\xa9";
  absl::StatusOr<std::string> bytes = EncodeSafetensors(contents);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  ASSERT_TRUE(LooksLikeSafetensors(*bytes));
  absl::StatusOr<NamedTensors> read = DecodeSafetensors(*bytes, "round");
  ASSERT_TRUE(read.ok()) << read.status();
  ASSERT_EQ(read->tensors.size(), contents.tensors.size());
  for (const auto& [name, want] : contents.tensors) {
    const torch::Tensor& got = read->tensors.at(name);
    EXPECT_EQ(got.scalar_type(), want.scalar_type()) << name;
    EXPECT_TRUE(torch::equal(got, want)) << name;
  }
  EXPECT_EQ(read->tensors.at("scalar").dim(), 0);
  EXPECT_EQ(read->metadata, contents.metadata);
}

TEST(SafetensorsTest, RefusesWhatTheFormatCannotCarry) {
  NamedTensors complex;
  complex.tensors["c"] = torch::zeros({2}, torch::kComplexFloat);
  EXPECT_EQ(EncodeSafetensors(complex).status().code(), absl::StatusCode::kInvalidArgument);
  NamedTensors reserved;
  reserved.tensors["__metadata__"] = torch::zeros({1});
  EXPECT_EQ(EncodeSafetensors(reserved).status().code(), absl::StatusCode::kInvalidArgument);
}

struct Hostile {
  const char* what;
  std::string bytes;
  const char* message;
};

TEST(SafetensorsTest, RefusesDamagedAndHostileFiles) {
  const std::string ok_entry = "\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}";
  const std::string eight = Floats({1, 2});
  const std::vector<Hostile> cases = {
      {"short", "abc", "shorter than"},
      {"length past the end", U64(1000) + "{}", "runs past the end"},
      {"length above the limit", U64(200'000'000) + "{}", "100 MB"},
      {"not an object", File("[1, 2]", ""), "does not start with '{'"},
      {"not JSON", File("{\"w\": {", eight), "not a JSON object"},
      {"entry not an object", File("{\"w\": 3}", ""), "'w' is not an object"},
      {"no offsets", File("{\"w\":{\"dtype\":\"F32\",\"shape\":[2]}}", eight), "lacks"},
      {"unknown dtype",
       File("{\"w\":{\"dtype\":\"F128\",\"shape\":[2],\"data_offsets\":[0,8]}}", eight),
       "unknown dtype"},
      {"negative dimension",
       File("{\"w\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", eight),
       "negative, fractional or overflowing"},
      {"fractional dimension",
       File("{\"w\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,8]}}", eight),
       "negative, fractional or overflowing"},
      {"overflowing shape",
       File("{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}",
            eight),
       "overflowing"},
      {"shape and offsets disagree",
       File("{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", eight),
       "its shape needs 12"},
      {"offsets wider than the shape",  // read as the shape says, it would overrun the tensor
       File("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,8]}}", eight),
       "its shape needs 4"},
      {"offsets reversed",
       File("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", eight),
       "malformed data_offsets"},
      {"past the buffer",
       File("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", eight),
       "past the 8-byte buffer"},
      {"overlapping",
       File("{" + ok_entry + ",\"v\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
            eight),
       "overlapping or a hole"},
      {"a hole", File("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", eight),
       "overlapping or a hole"},
      {"trailing bytes", File("{" + ok_entry + "}", eight + "junk"), "no tensor describes"},
      {"bool byte 2",
       File("{\"b\":{\"dtype\":\"BOOL\",\"shape\":[2],\"data_offsets\":[0,2]}}",
            std::string("\x01\x02", 2)),
       "other than 0 and 1"},
      {"metadata not text", File("{\"__metadata__\":{\"k\":1}," + ok_entry + "}", eight),
       "metadata 'k' is not a string"},
      {"too many dimensions",
       File("{\"w\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,"
            "1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}",
            "x"),
       "33 dimensions"},
  };
  for (const Hostile& c : cases) {
    const absl::StatusOr<NamedTensors> read = DecodeSafetensors(c.bytes, "bad.safetensors");
    ASSERT_FALSE(read.ok()) << c.what;
    EXPECT_EQ(read.status().code(), absl::StatusCode::kDataLoss) << c.what;
    EXPECT_NE(read.status().message().find(c.message), std::string::npos)
        << c.what << ": " << read.status();
    EXPECT_NE(read.status().message().find("bad.safetensors"), std::string::npos) << c.what;
  }
  // The good file those cases were cut from reads.
  EXPECT_TRUE(DecodeSafetensors(File("{" + ok_entry + "}", eight), "good").ok());
}

}  // namespace
}  // namespace ftl
