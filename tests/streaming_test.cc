// Streaming (images read when their batch is drawn) against loading into memory, on real LFW
// faces; what unreadable images do while streaming; and the BatchPrefetcher.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/data/batch_prefetcher.h"
#include "common/data/image_folder.h"
#include "common/data/image_stream.h"
#include "common/data/recordio.h"
#include "tests/temp_dir.h"

namespace ftl {
namespace {

namespace fs = std::filesystem;
using ftl::testing::FreshDir;

const std::string kLfw = FTL_DATA_ROOT "/lfw/lfw-deepfunneled";

// A copy of a few LFW identities (real JPEGs; 4, 4, 12 and 1 images), so that tests may damage it.
std::string CopyLfwIdentities(const std::string& name) {
  const std::string root = FreshDir(name);
  for (const char* person : {"Aaron_Peirsol", "Abdullah", "Adrien_Brody", "Aaron_Eckhart"}) {
    fs::copy(kLfw + "/" + person, root + "/" + person, fs::copy_options::recursive);
  }
  return root;
}

// Those identities packed as RecordIO in `name`/faces.rec; the config reading it.
DataConfig PackedLfwIdentities(const std::string& name) {
  const std::string root = CopyLfwIdentities(name + "_folder");
  const std::string dir = FreshDir(name);
  EXPECT_TRUE(PackImageFolder(root, dir + "/faces.rec", dir + "/faces.idx").ok());
  DataConfig config;
  config.format = "recordio";
  config.path = dir + "/faces.rec";
  return config;
}

ModelShape SmallShape() {
  ModelShape shape;
  shape.input_size = 24;
  shape.channels = 3;
  return shape;
}

// A streamed dataset over a fresh copy of those identities, which the test may damage at `root`.
Dataset StreamedLfwCopy(const std::string& name, std::string* root) {
  *root = CopyLfwIdentities(name);
  DataConfig config;
  config.path = *root;
  config.streaming = true;
  absl::StatusOr<Dataset> d = LoadDataset(config, SmallShape(), 1);
  EXPECT_TRUE(d.ok()) << d.status();
  return d.ok() ? *std::move(d) : Dataset();
}

void ExpectSameSamples(const Dataset& in_memory, const Dataset& streamed) {
  ASSERT_EQ(in_memory.size(), streamed.size());
  EXPECT_EQ(in_memory.sample_names, streamed.sample_names);
  EXPECT_EQ(in_memory.class_names, streamed.class_names);
  EXPECT_TRUE(torch::equal(in_memory.labels, streamed.labels));
  EXPECT_FALSE(streamed.images.defined());  // nothing decoded up front
  EXPECT_EQ(streamed.image_size(), in_memory.image_size());
  const torch::Tensor all = torch::arange(streamed.size(), torch::kInt64).flip(0);
  absl::StatusOr<torch::Tensor> images = GatherImages(streamed, all);
  ASSERT_TRUE(images.ok()) << images.status();
  EXPECT_TRUE(torch::equal(*images, in_memory.images.index_select(0, all)));
  EXPECT_EQ(streamed.stream->bad_count(), 0);
}

TEST(StreamingTest, StreamedFolderGivesTheSameSamplesAsLoadingIntoMemory) {
  const std::string dir = FreshDir("stream_folder");
  // A manifest selecting 40 real faces of LFW, and a class filter on top.
  absl::StatusOr<SourceListing> listing = ListImageFolder(kLfw);
  ASSERT_TRUE(listing.ok()) << listing.status();
  std::vector<std::string> chosen;
  for (size_t i = 0; i < listing->sample_names.size() && chosen.size() < 40; i += 97) {
    chosen.push_back(listing->sample_names[i]);
  }
  chosen.push_back(chosen.front());  // duplicates collapse, as in memory
  ASSERT_TRUE(WriteManifest(dir + "/train.txt", chosen).ok());
  DataConfig config;
  config.path = kLfw;
  config.manifest = dir + "/train.txt";
  config.center_crop = 0.5;
  absl::StatusOr<Dataset> in_memory = LoadDataset(config, SmallShape(), 1);
  config.streaming = true;
  absl::StatusOr<Dataset> streamed = LoadDataset(config, SmallShape(), 1);
  ASSERT_TRUE(in_memory.ok()) << in_memory.status();
  ASSERT_TRUE(streamed.ok()) << streamed.status();
  EXPECT_EQ(streamed->size(), 40);
  ExpectSameSamples(*in_memory, *streamed);
}

TEST(StreamingTest, StreamedRecordIoGivesTheSameSamplesAsLoadingIntoMemory) {
  DataConfig config = PackedLfwIdentities("stream_rec");
  const std::string dir = fs::path(config.path).parent_path().string();
  config.max_classes = 3;  // relabelling applies to streamed sets too
  absl::StatusOr<Dataset> in_memory = LoadDataset(config, SmallShape(), 1);
  config.streaming = true;
  absl::StatusOr<Dataset> streamed = LoadDataset(config, SmallShape(), 1);
  ASSERT_TRUE(in_memory.ok()) << in_memory.status();
  ASSERT_TRUE(streamed.ok()) << streamed.status();
  EXPECT_EQ(streamed->size(), 20);  // 4 + 4 + 12; the one-image identity is the smallest
  ExpectSameSamples(*in_memory, *streamed);
  // A manifest naming a key that is not an image record is a counted skip, as in memory.
  ASSERT_TRUE(WriteManifest(dir + "/some.txt", {"#3", "#9", "#999"}).ok());
  config.max_classes = 0;
  config.manifest = dir + "/some.txt";
  absl::StatusOr<Dataset> some = LoadDataset(config, SmallShape(), 1);
  ASSERT_TRUE(some.ok()) << some.status();
  EXPECT_EQ(some->sample_names, (std::vector<std::string>{"#3", "#9"}));
  EXPECT_EQ(some->skipped_images, 1);
}

TEST(StreamingTest, AnUnreadableImageIsReplacedByAnotherOfTheSameIdentity) {
  std::string root;
  const Dataset streamed = StreamedLfwCopy("stream_damage", &root);
  const Dataset* d = &streamed;
  ASSERT_EQ(d->size(), 21);
  // Damage two of Abdullah's four images and Aaron_Eckhart's only one after listing, as a disk
  // or a copy would.
  const auto row_of = [&](const std::string& name) {
    return std::find(d->sample_names.begin(), d->sample_names.end(), name) -
           d->sample_names.begin();
  };
  const int64_t bad1 = row_of("Abdullah/Abdullah_0002.jpg"),
                bad2 = row_of("Abdullah/Abdullah_0003.jpg");
  const int64_t next_good = row_of("Abdullah/Abdullah_0004.jpg");
  std::ofstream(root + "/Abdullah/Abdullah_0002.jpg", std::ios::trunc) << "\xff\xd8\xff garbage";
  fs::remove(root + "/Abdullah/Abdullah_0003.jpg");
  absl::StatusOr<torch::Tensor> batch = GatherImages(*d, torch::tensor({bad1, bad2, int64_t{0}}));
  ASSERT_TRUE(batch.ok()) << batch.status();
  absl::StatusOr<torch::Tensor> good = GatherImages(*d, torch::tensor({next_good, int64_t{0}}));
  ASSERT_TRUE(good.ok());
  EXPECT_TRUE(torch::equal((*batch)[0], (*good)[0]));  // the next readable image of Abdullah
  EXPECT_TRUE(torch::equal((*batch)[1], (*good)[0]));
  EXPECT_TRUE(torch::equal((*batch)[2], (*good)[1]));  // others untouched
  EXPECT_EQ(d->stream->bad_count(), 2);
  ASSERT_TRUE(GatherImages(*d, torch::tensor({bad1})).ok());
  EXPECT_EQ(d->stream->bad_count(), 2);  // known bad samples are not read again

  // No readable image left for an identity: a clear error naming it, and ImageBatch throws.
  const int64_t only = row_of("Aaron_Eckhart/Aaron_Eckhart_0001.jpg");
  fs::remove(root + "/Aaron_Eckhart/Aaron_Eckhart_0001.jpg");
  absl::StatusOr<torch::Tensor> lost = GatherImages(*d, torch::tensor({only}));
  ASSERT_FALSE(lost.ok());
  EXPECT_EQ(lost.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(lost.status().message().find("Aaron_Eckhart"), std::string::npos) << lost.status();
  EXPECT_THROW(ImageBatch(*d, torch::tensor({only})), DataReadError);
  EXPECT_FALSE(GatherImages(*d, torch::tensor({int64_t{21}})).ok());  // past the end
}

TEST(StreamingTest, DamagedRecordsWhileStreamingAreReplacedToo) {
  DataConfig config = PackedLfwIdentities("stream_rec_damage");
  const std::string dir = fs::path(config.path).parent_path().string();
  config.streaming = true;
  absl::StatusOr<Dataset> d = LoadDataset(config, SmallShape(), 1);
  ASSERT_TRUE(d.ok()) << d.status();
  // Overwrite most of record #2's JPEG (Aaron_Peirsol's first image) with zeros.
  absl::StatusOr<std::unique_ptr<RecordIoReader>> reader =
      RecordIoReader::Open(config.path, dir + "/faces.idx");
  ASSERT_TRUE(reader.ok());
  std::ifstream idx(dir + "/faces.idx");
  std::string line;
  uint64_t offset = 0;
  while (std::getline(idx, line)) {
    if (line.rfind("2\t", 0) == 0) offset = std::stoull(line.substr(2));
  }
  ASSERT_GT(offset, 0u);
  {
    std::fstream rec(config.path, std::ios::in | std::ios::out | std::ios::binary);
    rec.seekp(static_cast<std::streamoff>(offset + 8 + 24 + 2));  // framing, IRHeader, SOI
    const std::string zeros(4000, '\0');
    rec.write(zeros.data(), zeros.size());
  }
  const int64_t row = 1;  // "#2"
  ASSERT_EQ(d->sample_names[row], "#2");
  absl::StatusOr<torch::Tensor> batch = GatherImages(*d, torch::tensor({row, int64_t{2}}));
  ASSERT_TRUE(batch.ok()) << batch.status();
  EXPECT_TRUE(torch::equal((*batch)[0], (*batch)[1]));  // #3, the next image of the same identity
  EXPECT_EQ(d->stream->bad_count(), 1);
}

// One rank lists, the others receive the listing: what arrives is what was listed, and damage to
// the message is an error.
TEST(StreamingTest, ListingsTravelAsBytesAndDamageIsAnError) {
  DataConfig config = PackedLfwIdentities("stream_listing");
  config.streaming = true;
  absl::StatusOr<Dataset> listed = LoadDataset(config, SmallShape(), 1);
  ASSERT_TRUE(listed.ok()) << listed.status();
  listed->yaw = torch::arange(listed->size(), torch::kFloat32);
  listed->regular_classes = torch::tensor({true, false, true, false});
  listed->skipped_names = {"#77 (label -1 is not a class index)"};
  listed->skipped_images = 1;
  const std::string bytes = EncodeStreamedListing(*listed);
  absl::StatusOr<Dataset> received =
      DecodeStreamedListing(bytes, config, ImageOptionsFor(config, SmallShape()));
  ASSERT_TRUE(received.ok()) << received.status();
  EXPECT_EQ(received->sample_names, listed->sample_names);
  EXPECT_EQ(received->class_names, listed->class_names);
  EXPECT_EQ(received->skipped_names, listed->skipped_names);
  EXPECT_EQ(received->skipped_images, 1);
  EXPECT_TRUE(torch::equal(received->labels, listed->labels));
  EXPECT_TRUE(torch::equal(received->yaw, listed->yaw));
  EXPECT_TRUE(torch::equal(received->regular_classes, listed->regular_classes));
  const torch::Tensor rows = torch::arange(listed->size(), torch::kInt64);
  EXPECT_TRUE(torch::equal(*GatherImages(*received, rows),
                           *GatherImages(*listed, rows)));  // its own source
  // Undefined yaw and regular classes stay undefined.
  listed->yaw = torch::Tensor();
  listed->regular_classes = torch::Tensor();
  absl::StatusOr<Dataset> plain = DecodeStreamedListing(EncodeStreamedListing(*listed), config,
                                                        ImageOptionsFor(config, SmallShape()));
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_FALSE(plain->yaw.defined());
  EXPECT_FALSE(plain->regular_classes.defined());

  // Every truncation, and a label beyond the classes, is refused.
  for (size_t cut = 0; cut < bytes.size(); cut += 7) {
    EXPECT_FALSE(DecodeStreamedListing(bytes.substr(0, cut), config, ImageOptions()).ok()) << cut;
  }
  EXPECT_FALSE(DecodeStreamedListing(bytes + "x", config, ImageOptions()).ok());
  Dataset wrong = *listed;
  wrong.labels = listed->labels.clone();
  wrong.labels[0] = 4;  // 4 classes: 0..3
  absl::StatusOr<Dataset> refused =
      DecodeStreamedListing(EncodeStreamedListing(wrong), config, ImageOptions());
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kDataLoss);
}

TEST(StreamingTest, IdxIsNotStreamed) {
  DataConfig config;
  config.format = "idx";
  config.path = "/nonexistent";
  absl::StatusOr<Dataset> d = StreamSource(config, ImageOptions(), nullptr);
  EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument);
}

// Batches from the prefetcher are the batches asked for, in order, whatever the threads.
TEST(BatchPrefetcherTest, ReadAheadGivesTheSameBatchesInOrder) {
  DataConfig config;
  config.path = CopyLfwIdentities("prefetch");
  absl::StatusOr<Dataset> in_memory = LoadDataset(config, SmallShape(), 1);
  config.streaming = true;
  absl::StatusOr<Dataset> streamed = LoadDataset(config, SmallShape(), 1);
  ASSERT_TRUE(in_memory.ok() && streamed.ok());
  const std::thread::id caller = std::this_thread::get_id();
  for (const Dataset* d : {&*in_memory, &*streamed}) {
    for (const auto& [threads, depth] :
         std::vector<std::pair<int, int>>{{0, 1}, {1, 1}, {3, 2}, {2, 8}}) {
      int64_t expected_next = 0;
      bool on_caller_thread = true;
      auto rows_of = [&](int64_t k) {
        EXPECT_EQ(k, expected_next++);  // asked in order
        on_caller_thread = on_caller_thread && std::this_thread::get_id() == caller;
        return torch::tensor({(k * 5) % 21, (k * 7 + 1) % 21, (k + 3) % 21}, torch::kInt64);
      };
      BatchPrefetcher prefetcher(*d, rows_of, 9, threads, depth);
      for (int64_t k = 0; k < 9; ++k) {
        const BatchPrefetcher::Batch batch = prefetcher.Next();
        const torch::Tensor want =
            torch::tensor({(k * 5) % 21, (k * 7 + 1) % 21, (k + 3) % 21}, torch::kInt64);
        ASSERT_TRUE(torch::equal(batch.rows, want)) << threads << " threads, batch " << k;
        ASSERT_TRUE(torch::equal(batch.images, in_memory->images.index_select(0, want)))
            << threads << " threads, batch " << k;
      }
      EXPECT_TRUE(on_caller_thread);
      EXPECT_THROW(prefetcher.Next(), std::out_of_range);
    }
  }
}

TEST(BatchPrefetcherTest, AReadErrorReachesTheCallerAndUnreadBatchesDoNotHang) {
  std::string root;
  const Dataset streamed = StreamedLfwCopy("prefetch_error", &root);
  ASSERT_EQ(streamed.size(), 21);
  const Dataset* d = &streamed;
  fs::remove(root + "/Aaron_Eckhart/Aaron_Eckhart_0001.jpg");  // row 0, its identity's only image
  {
    BatchPrefetcher prefetcher(
        *d, [](int64_t k) { return torch::tensor({k == 2 ? int64_t{0} : int64_t{5}}); }, 50, 2, 4);
    EXPECT_NO_THROW(prefetcher.Next());
    EXPECT_NO_THROW(prefetcher.Next());
    EXPECT_THROW(prefetcher.Next(), DataReadError);
    EXPECT_NO_THROW(prefetcher.Next());
  }  // 46 batches never taken: the destructor returns
  SUCCEED();
}

}  // namespace
}  // namespace ftl
