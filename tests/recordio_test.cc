// MXNet / InsightFace RecordIO: framing, split payloads, image headers, InsightFace layout, and
// what damage does (clear errors or counted skips; never a crash or a wrong label).
#include "common/data/recordio.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <opencv2/imgcodecs.hpp>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/data/image_stream.h"
#include "common/data/synthetic_set.h"
#include "tests/temp_dir.h"

namespace ftl {
namespace {

namespace fs = std::filesystem;

using ftl::testing::FreshDir;

std::string MagicBytes() {
  std::string m(4, '\0');
  const uint32_t magic = kRecordIoMagic;
  std::memcpy(m.data(), &magic, 4);
  return m;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A folder of 3 identities with 2, 3, 1 PNG images of distinct grey values.
std::string MakeFolder(const std::string& name) {
  const std::string root = FreshDir(name);
  const std::vector<std::pair<std::string, int>> people = {{"ann", 2}, {"bob", 3}, {"cy", 1}};
  int value = 10;
  for (const auto& [who, count] : people) {
    fs::create_directories(root + "/" + who);
    for (int i = 0; i < count; ++i, value += 30) {
      cv::Mat image(12, 10, CV_8UC1, cv::Scalar(value));
      EXPECT_TRUE(cv::imwrite(absl::StrCat(root, "/", who, "/", i, ".png"), image));
    }
  }
  return root;
}

TEST(RecordIoTest, SplitPayloadsRoundTripWithTheMagicRestored) {
  const std::string dir = FreshDir("recordio_split");
  // The magic at aligned offsets 0, 8 and at the very end, plus an unaligned copy left alone.
  const std::string tricky =
      MagicBytes() + "abcd" + MagicBytes() + "xy" + MagicBytes() + "zz" + MagicBytes();
  const std::vector<std::string> payloads = {"", "hello", tricky, std::string(1000, '\x7f')};
  {
    auto writer = RecordIoWriter::Create(dir + "/t.rec", dir + "/t.idx");
    ASSERT_TRUE(writer.ok()) << writer.status();
    for (size_t k = 0; k < payloads.size(); ++k)
      ASSERT_TRUE((*writer)->Write(10 + k, payloads[k]).ok());
    ASSERT_TRUE((*writer)->Finish().ok());
  }
  // The writer really split the tricky payload (cflag 1 on its first part).
  const std::string rec = ReadAll(dir + "/t.rec");
  EXPECT_EQ(rec.size() % 4, 0u);
  auto reader = RecordIoReader::Open(dir + "/t.rec", dir + "/t.idx");
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_EQ((*reader)->keys(), (std::vector<int64_t>{10, 11, 12, 13}));
  for (size_t k = 0; k < payloads.size(); ++k) {
    absl::StatusOr<std::string> got = (*reader)->Read(10 + k);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(*got, payloads[k]) << "key " << 10 + k;
  }
  EXPECT_FALSE((*reader)->Read(99).ok());
  // Prefix reads (what listing uses) are the payload's first bytes, across split parts too.
  for (size_t k = 0; k < payloads.size(); ++k) {
    for (size_t n : {size_t{0}, size_t{3}, size_t{4}, size_t{9}, size_t{14}, size_t{2000}}) {
      absl::StatusOr<std::string> prefix = (*reader)->Read(10 + k, n);
      ASSERT_TRUE(prefix.ok()) << prefix.status();
      EXPECT_EQ(*prefix, payloads[k].substr(0, n)) << "key " << 10 + k << ", " << n << " bytes";
    }
  }
  // Count the record headers: the tricky payload became 4 parts (3 aligned magics).
  int headers = 0;
  for (size_t i = 0; i + 4 <= rec.size(); i += 4) headers += rec.compare(i, 4, MagicBytes()) == 0;
  EXPECT_EQ(headers, 1 + 1 + 4 + 1);
}

TEST(RecordIoTest, ImageHeaderWithOneOrManyLabels) {
  const std::string one = PackImageRecord({7.0f}, 42, "JPEG");
  absl::StatusOr<ImageRecord> r = ParseImageRecord(one);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->flag, 0u);
  EXPECT_EQ(r->labels, (std::vector<float>{7.0f}));
  EXPECT_EQ(r->id, 42u);
  EXPECT_EQ(r->image, "JPEG");
  absl::StatusOr<ImageRecord> many =
      ParseImageRecord(PackImageRecord({3.0f, 0.5f, 9.0f}, 1, "PNG"));
  ASSERT_TRUE(many.ok());
  EXPECT_EQ(many->flag, 3u);
  EXPECT_EQ(many->labels, (std::vector<float>{3.0f, 0.5f, 9.0f}));
  EXPECT_EQ(many->image, "PNG");
  EXPECT_FALSE(ParseImageRecord("short").ok());
  std::string lying = PackImageRecord({1.0f}, 1, "");
  const uint32_t huge = 1000;
  std::memcpy(lying.data(), &huge, 4);  // promises 1000 labels
  EXPECT_FALSE(ParseImageRecord(lying).ok());
}

TEST(RecordIoTest, PackedFolderLoadsAsTheSameImagesAndLabels) {
  const std::string root = MakeFolder("recordio_folder");
  const std::string dir = FreshDir("recordio_pack");
  absl::StatusOr<int64_t> n = PackImageFolder(root, dir + "/faces.rec", dir + "/faces.idx");
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 6);
  EXPECT_EQ(RecordIoIndexPath(dir + "/faces.rec"), dir + "/faces.idx");
  // InsightFace layout: header 0, images 1..6, identity records 7..9 with key ranges.
  auto reader = RecordIoReader::Open(dir + "/faces.rec", dir + "/faces.idx");
  ASSERT_TRUE(reader.ok());
  EXPECT_EQ((*reader)->keys().size(), 10u);
  absl::StatusOr<ImageRecord> header = ParseImageRecord(*(*reader)->Read(0));
  ASSERT_TRUE(header.ok());
  EXPECT_EQ(header->labels, (std::vector<float>{7.0f, 10.0f}));
  absl::StatusOr<ImageRecord> bob = ParseImageRecord(*(*reader)->Read(8));
  EXPECT_EQ(bob->labels, (std::vector<float>{3.0f, 6.0f}));  // bob's images are keys 3, 4, 5

  absl::StatusOr<SourceListing> listing = ListRecordIo(dir + "/faces.rec", dir + "/faces.idx");
  ASSERT_TRUE(listing.ok()) << listing.status();
  EXPECT_EQ(listing->sample_names, (std::vector<std::string>{"#1", "#2", "#3", "#4", "#5", "#6"}));
  EXPECT_EQ(listing->identities, (std::vector<std::string>{"0", "0", "1", "1", "1", "2"}));
  ImageOptions options;
  options.size = 4;
  absl::StatusOr<Dataset> d = LoadRecordIo(dir + "/faces.rec", dir + "/faces.idx", options);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->size(), 6);
  EXPECT_TRUE(torch::equal(d->labels, torch::tensor({0, 0, 1, 1, 1, 2}, torch::kInt64)));
  for (int i = 0; i < 6; ++i) EXPECT_EQ(d->images[i][0][1][1].item<int>(), 10 + 30 * i) << i;
  // A subset by manifest names, through the generic loader.
  DataConfig config;
  config.format = "recordio";
  config.path = dir + "/faces.rec";
  std::vector<std::string> only = {"#5", "#2"};
  absl::StatusOr<Dataset> subset = LoadSource(config, options, &only);
  ASSERT_TRUE(subset.ok()) << subset.status();
  EXPECT_EQ(subset->sample_names, (std::vector<std::string>{"#2", "#5"}));
  EXPECT_EQ(subset->images[1][0][0][0].item<int>(), 130);
}

TEST(RecordIoTest, DamageIsAClearErrorOrACountedSkip) {
  const std::string root = MakeFolder("recordio_damage_folder");
  const std::string dir = FreshDir("recordio_damage");
  ASSERT_TRUE(PackImageFolder(root, dir + "/a.rec", dir + "/a.idx").ok());
  const std::string rec = ReadAll(dir + "/a.rec");
  const std::string idx = ReadAll(dir + "/a.idx");
  ImageOptions options;
  options.size = 4;

  // Truncated inside image 6's record: that image is a counted skip naming the offset; the rest
  // load.
  std::string offset_of_6;
  {
    std::istringstream lines(idx);
    std::string key, offset;
    while (lines >> key >> offset) {
      if (key == "6") offset_of_6 = offset;
    }
  }
  ASSERT_FALSE(offset_of_6.empty());
  std::ofstream(dir + "/cut.rec", std::ios::binary) << rec.substr(0, std::stoul(offset_of_6) + 20);
  {
    // Keys 0..6 (header and images) still start inside the cut file; the identity records do not.
    std::istringstream lines(idx);
    std::ofstream out(dir + "/cut.idx");
    std::string line;
    for (int i = 0; i < 7 && std::getline(lines, line); ++i) out << line << "\n";
  }
  absl::StatusOr<Dataset> cut = LoadRecordIo(dir + "/cut.rec", dir + "/cut.idx", options);
  ASSERT_TRUE(cut.ok()) << cut.status();
  EXPECT_EQ(cut->size(), 5);
  ASSERT_EQ(cut->skipped_names.size(), 1u);
  EXPECT_NE(cut->skipped_names[0].find("#6"), std::string::npos) << cut->skipped_names[0];
  EXPECT_NE(cut->skipped_names[0].find("runs past the end"), std::string::npos)
      << cut->skipped_names[0];
  EXPECT_NE(cut->skipped_names[0].find("offset " + offset_of_6), std::string::npos)
      << cut->skipped_names[0];

  // An index offset past the end of the .rec: an error at open naming the index line.
  std::ofstream(dir + "/past.idx") << idx << "11\t999999\n";
  auto past = RecordIoReader::Open(dir + "/a.rec", dir + "/past.idx");
  ASSERT_FALSE(past.ok());
  EXPECT_NE(past.status().message().find("past.idx:11"), std::string::npos) << past.status();
  std::ofstream(dir + "/junk.idx") << "0 zero\n";
  EXPECT_FALSE(RecordIoReader::Open(dir + "/a.rec", dir + "/junk.idx").ok());

  // A bad magic (an index pointing into the middle of a record) names the offset.
  std::ofstream(dir + "/mid.idx") << "1\t" << std::stoul(offset_of_6) + 12 << "\n";
  auto mid = RecordIoReader::Open(dir + "/a.rec", dir + "/mid.idx");
  ASSERT_TRUE(mid.ok());
  absl::StatusOr<std::string> bad = (*mid)->Read(1);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("bad magic"), std::string::npos) << bad.status();

  // Labels that are not class indices are skipped with the reason, never used.
  {
    auto writer = RecordIoWriter::Create(dir + "/labels.rec", dir + "/labels.idx");
    ASSERT_TRUE(writer.ok());
    const std::string png = ReadAll(root + "/ann/0.png");
    ASSERT_TRUE((*writer)
                    ->Write(0, PackImageRecord({1.0f}, 0, png))
                    .ok());  // plain layout: key 0 is an image
    ASSERT_TRUE((*writer)->Write(1, PackImageRecord({-1.0f}, 1, png)).ok());
    ASSERT_TRUE((*writer)->Write(2, PackImageRecord({2.5f}, 2, png)).ok());
    ASSERT_TRUE((*writer)->Write(3, PackImageRecord({std::nanf("")}, 3, png)).ok());
    ASSERT_TRUE((*writer)->Write(4, PackImageRecord({0.0f}, 4, "not an image")).ok());
    ASSERT_TRUE((*writer)->Finish().ok());
  }
  std::vector<std::string> skipped;
  absl::StatusOr<SourceListing> listing =
      ListRecordIo(dir + "/labels.rec", dir + "/labels.idx", &skipped);
  ASSERT_TRUE(listing.ok()) << listing.status();
  EXPECT_EQ(listing->sample_names, (std::vector<std::string>{"#0", "#4"}));
  ASSERT_EQ(skipped.size(), 3u);
  EXPECT_NE(skipped[0].find("label -1 is not a class index"), std::string::npos) << skipped[0];
  absl::StatusOr<Dataset> labels = LoadRecordIo(dir + "/labels.rec", dir + "/labels.idx", options);
  ASSERT_TRUE(labels.ok()) << labels.status();
  EXPECT_EQ(labels->sample_names, (std::vector<std::string>{"#0"}));  // #4 does not decode
  EXPECT_EQ(labels->skipped_images, 4);
  EXPECT_EQ(labels->class_names[labels->labels[0].item<int64_t>()], "1");
}

// Listing reads a prefix of each record; a header with more labels than the prefix holds is read
// whole, so its class is still right.
TEST(RecordIoTest, ListingReadsRecordsWithManyLabels) {
  const std::string dir = FreshDir("recordio_many_labels");
  std::vector<float> many(100, 0.5f);
  many[0] = 2.0f;
  auto writer = RecordIoWriter::Create(dir + "/m.rec", dir + "/m.idx");
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->Write(1, PackImageRecord({1.0f}, 1, std::string(5000, 'x'))).ok());
  ASSERT_TRUE((*writer)->Write(2, PackImageRecord(many, 2, std::string(5000, 'y'))).ok());
  ASSERT_TRUE((*writer)->Finish().ok());
  std::vector<std::string> skipped;
  absl::StatusOr<SourceListing> listing = ListRecordIo(dir + "/m.rec", dir + "/m.idx", &skipped);
  ASSERT_TRUE(listing.ok()) << listing.status();
  EXPECT_EQ(listing->sample_names, (std::vector<std::string>{"#1", "#2"}));
  EXPECT_EQ(listing->identities, (std::vector<std::string>{"1", "2"}));
  EXPECT_TRUE(skipped.empty());
}

// Found by fuzzing: header ranges that are not whole numbers were cast to integers (undefined).
TEST(RecordIoTest, HeaderRangesThatAreNotIndicesAreAnError) {
  const std::string dir = FreshDir("recordio_header_ranges");
  for (const std::vector<float>& ranges :
       {std::vector<float>{INFINITY, 3.0f}, std::vector<float>{1.0f, -2.6e20f},
        std::vector<float>{1.5f, 3.0f}}) {
    auto writer = RecordIoWriter::Create(dir + "/h.rec", dir + "/h.idx");
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE((*writer)->Write(0, PackImageRecord(ranges, 0, "")).ok());
    ASSERT_TRUE((*writer)->Write(1, PackImageRecord({0.0f}, 1, "not an image")).ok());
    ASSERT_TRUE((*writer)->Finish().ok());
    absl::StatusOr<SourceListing> listing = ListRecordIo(dir + "/h.rec", dir + "/h.idx");
    ASSERT_FALSE(listing.ok()) << ranges[0] << ", " << ranges[1];
    EXPECT_NE(listing.status().message().find("make no sense"), std::string::npos)
        << listing.status();
  }
}

TEST(RecordIoTest, LabelsBeyondTheHeadersIdentityCountAreSkipped) {
  const std::string root = MakeFolder("recordio_range_folder");
  const std::string dir = FreshDir("recordio_range");
  auto writer = RecordIoWriter::Create(dir + "/r.rec", dir + "/r.idx");
  ASSERT_TRUE(writer.ok());
  const std::string png = ReadAll(root + "/bob/0.png");
  ASSERT_TRUE(
      (*writer)->Write(0, PackImageRecord({3.0f, 5.0f}, 0, "")).ok());  // images 1..2, 2 identities
  ASSERT_TRUE((*writer)->Write(1, PackImageRecord({1.0f}, 1, png)).ok());
  ASSERT_TRUE(
      (*writer)->Write(2, PackImageRecord({2.0f}, 2, png)).ok());  // identity 2 of 2: out of range
  ASSERT_TRUE((*writer)->Write(3, PackImageRecord({1.0f, 2.0f}, 3, "")).ok());
  ASSERT_TRUE((*writer)->Write(4, PackImageRecord({2.0f, 3.0f}, 4, "")).ok());
  ASSERT_TRUE((*writer)->Finish().ok());
  std::vector<std::string> skipped;
  absl::StatusOr<SourceListing> listing = ListRecordIo(dir + "/r.rec", dir + "/r.idx", &skipped);
  ASSERT_TRUE(listing.ok()) << listing.status();
  EXPECT_EQ(listing->sample_names, (std::vector<std::string>{"#1"}));
  ASSERT_EQ(skipped.size(), 1u);
  EXPECT_NE(skipped[0].find("beyond the 2 identities"), std::string::npos) << skipped[0];
}

// Without the InsightFace header a label is bounded only by 2^31: classes are the labels present
// (fuzzing found 2 billion class names allocated for one large label), streamed or not.
TEST(RecordIoTest, ClassesAreTheLabelsPresentHoweverLarge) {
  const std::string root = MakeFolder("recordio_large_label_folder");
  const std::string dir = FreshDir("recordio_large_label");
  auto writer = RecordIoWriter::Create(dir + "/l.rec", dir + "/l.idx");
  ASSERT_TRUE(writer.ok());
  const std::string png = ReadAll(root + "/bob/0.png");
  ASSERT_TRUE((*writer)->Write(0, PackImageRecord({2000000000.0f}, 0, png)).ok());
  ASSERT_TRUE((*writer)->Write(1, PackImageRecord({7.0f}, 1, png)).ok());
  ASSERT_TRUE((*writer)->Write(2, PackImageRecord({2000000000.0f}, 2, png)).ok());
  ASSERT_TRUE((*writer)->Finish().ok());
  DataConfig config;
  config.format = "recordio";
  config.path = dir + "/l.rec";
  ImageOptions options;
  options.size = 4;
  for (bool streaming : {false, true}) {
    absl::StatusOr<Dataset> d =
        streaming ? StreamSource(config, options, nullptr) : LoadSource(config, options, nullptr);
    ASSERT_TRUE(d.ok()) << d.status();
    EXPECT_EQ(d->class_names, (std::vector<std::string>{"7", "2000000000"})) << streaming;
    EXPECT_TRUE(torch::equal(d->labels, torch::tensor({1, 0, 1}, torch::kInt64))) << streaming;
  }
}

namespace synthetic {

SyntheticSetOptions SmallSet(uint64_t seed) {
  SyntheticSetOptions o;
  o.identities = 30;
  o.regular = 5;
  o.min_regular_images = 21;
  o.max_regular_images = 25;
  o.min_ur_images = 1;
  o.max_ur_images = 3;
  o.size = 16;
  o.seed = seed;
  return o;
}

// The generated set is a valid InsightFace RecordIO with the documented counts, the same bytes
// for the same seed, and identities a nearest-mean rule tells apart (each identity's images
// share its pattern).
TEST(SyntheticSetTest, WritesTheDocumentedLongTailSeededAndLearnable) {
  const std::string dir = FreshDir("synthetic");
  const SyntheticSetOptions o = SmallSet(3);
  absl::StatusOr<SyntheticSetSummary> written =
      WriteSyntheticRecordIo(o, dir + "/a.rec", dir + "/a.idx");
  ASSERT_TRUE(written.ok()) << written.status();
  ImageOptions decode;
  decode.size = 16;
  absl::StatusOr<Dataset> data = LoadRecordIo(dir + "/a.rec", dir + "/a.idx", decode);
  ASSERT_TRUE(data.ok()) << data.status();
  ASSERT_EQ(data->num_classes(), 30);
  EXPECT_EQ(data->size(), written->images);
  EXPECT_EQ(data->skipped_images, 0);
  const torch::Tensor counts = data->ClassCounts();
  int64_t total = 0;
  for (int64_t c = 0; c < 30; ++c) {
    const int64_t k = std::stoll(data->class_names[c]);
    const int64_t n = counts[c].item<int64_t>();
    EXPECT_EQ(n, SyntheticImageCount(o, k)) << k;
    if (k < o.regular) {
      EXPECT_GE(n, 21) << k;
      EXPECT_LE(n, 25) << k;
    } else {
      EXPECT_GE(n, 1) << k;
      EXPECT_LE(n, 3) << k;
    }
    total += n;
  }
  EXPECT_EQ(total, written->images);
  // Not every UR identity the same count: the counts are drawn.
  std::set<int64_t> ur_counts;
  for (int64_t k = o.regular; k < o.identities; ++k) ur_counts.insert(SyntheticImageCount(o, k));
  EXPECT_GE(ur_counts.size(), 2u);

  ASSERT_TRUE(WriteSyntheticRecordIo(o, dir + "/b.rec", dir + "/b.idx").ok());
  EXPECT_EQ(ReadAll(dir + "/a.rec"), ReadAll(dir + "/b.rec"));
  ASSERT_TRUE(WriteSyntheticRecordIo(SmallSet(4), dir + "/c.rec", dir + "/c.idx").ok());
  EXPECT_NE(ReadAll(dir + "/a.rec"), ReadAll(dir + "/c.rec"));

  // Leave-one-out nearest class mean on standardised pixels, over the regular identities' images:
  // far above chance (1/5) when the images of an identity share a pattern.
  torch::Tensor x = data->images.to(torch::kFloat32).flatten(1);
  x = (x - x.mean(1, /*keepdim=*/true)) / (x.std(1, /*unbiased=*/true, /*keepdim=*/true) + 1e-6);
  int64_t right = 0, tried = 0;
  for (int64_t i = 0; i < data->size(); ++i) {
    const int64_t label = data->labels[i].item<int64_t>();
    if (std::stoll(data->class_names[label]) >= o.regular) continue;
    double best = 1e30;
    int64_t chosen = -1;
    for (int64_t c = 0; c < data->num_classes(); ++c) {
      if (std::stoll(data->class_names[c]) >= o.regular) continue;
      torch::Tensor members = (data->labels == c);
      members[i] = false;
      const torch::Tensor mean = x.index({members}).mean(0);
      const double d = (x[i] - mean).pow(2).sum().item<double>();
      if (d < best) best = d, chosen = c;
    }
    right += chosen == label;
    ++tried;
  }
  EXPECT_GT(static_cast<double>(right) / tried, 0.8) << right << "/" << tried;
}

TEST(SyntheticSetTest, BadCountsAreRefusedNamingTheFlag) {
  const std::vector<std::pair<std::function<void(SyntheticSetOptions&)>, std::string>> bad = {
      {[](SyntheticSetOptions& o) { o.identities = 1; }, "--identities"},
      {[](SyntheticSetOptions& o) { o.regular = 31; }, "--regular"},
      {[](SyntheticSetOptions& o) { o.min_regular_images = 0; }, "--regular_images"},
      {[](SyntheticSetOptions& o) { o.max_regular_images = 20; }, "--regular_images"},
      {[](SyntheticSetOptions& o) { o.max_ur_images = 0; }, "--ur_images"},
      {[](SyntheticSetOptions& o) { o.size = 4; }, "--size"},
  };
  for (const auto& [change, flag] : bad) {
    SyntheticSetOptions o = SmallSet(1);
    change(o);
    const absl::Status status = CheckSyntheticSetOptions(o);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << flag;
    EXPECT_EQ(status.message().rfind(flag, 0), 0u) << status;
  }
  EXPECT_TRUE(CheckSyntheticSetOptions(SmallSet(1)).ok());
}

}  // namespace synthetic

}  // namespace
}  // namespace ftl
