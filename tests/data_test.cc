#include <gtest/gtest.h>
#include <zlib.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <opencv2/imgcodecs.hpp>

#include "common/data/dataset.h"
#include "common/data/idx_reader.h"
#include "common/data/image_decode.h"
#include "common/data/image_folder.h"
#include "common/data/sampler.h"
#include "tests/temp_dir.h"
#include "tests/test_util.h"

namespace ftl {
namespace {

namespace fs = std::filesystem;

using ftl::testing::FreshDir;

void WriteImage(const std::string& path, int value, int channels = 1) {
  cv::Mat image(20, 24, channels == 1 ? CV_8UC1 : CV_8UC3, cv::Scalar::all(value));
  ASSERT_TRUE(cv::imwrite(path, image)) << path;
}

TEST(ImageFolderTest, ReadsIdentitiesInNameOrderAndSkipsCorruptImages) {
  const std::string root = FreshDir("folder");
  fs::create_directories(root + "/bob");
  fs::create_directories(root + "/alice");
  fs::create_directories(root + "/empty");
  WriteImage(root + "/alice/1.png", 10);
  WriteImage(root + "/alice/2.pgm", 20);
  WriteImage(root + "/bob/1.jpg", 200, 3);
  std::ofstream(root + "/bob/broken.jpg") << "this is not a jpeg";
  std::ofstream(root + "/bob/notes.txt") << "ignored: not an image extension";
  ImageOptions options;
  options.size = 8;
  absl::StatusOr<Dataset> d = LoadImageFolder(root, options);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->class_names, (std::vector<std::string>{"alice", "bob"}));
  EXPECT_EQ(d->size(), 3);
  EXPECT_EQ(d->skipped_images, 1);
  EXPECT_EQ(d->skipped_names, (std::vector<std::string>{"bob/broken.jpg"}));
  EXPECT_TRUE(torch::equal(d->labels, torch::tensor({0, 0, 1}, torch::kInt64)));
  EXPECT_EQ(d->images.sizes(), (std::vector<int64_t>{3, 1, 8, 8}));
  EXPECT_EQ(d->images[1].max().item<int>(), 20);
  EXPECT_NEAR(d->images[2].to(torch::kFloat32).mean().item<double>(), 200, 1.0);
}

// Found by fuzzing: OpenCV's DICOM decoder asserts (aborting the worker) on a damaged file. Only
// the formats we document reach OpenCV.
TEST(ImageDecodeTest, UnsupportedFormatsNeverReachADecoder) {
  ImageOptions options;
  options.size = 8;
  const std::string dicom = std::string(128, '\x9f') + "DICM" + std::string(64, '\x9f');
  // A supported magic in front does not help: OpenCV still picks its DICOM decoder by offset 128.
  const std::string dicom_behind_pgm =
      "P2" + std::string(126, '\x91') + "DICM" + std::string(64, '\x91');
  const std::string radiance =
      "#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 2 +X 2\n" + std::string(16, '\x80');
  for (const std::string& bytes :
       {dicom, dicom_behind_pgm, radiance, std::string("GIF89a") + std::string(32, '\0')}) {
    absl::StatusOr<torch::Tensor> image = DecodeImage(bytes, options);
    ASSERT_FALSE(image.ok());
    EXPECT_NE(image.status().message().find("not a JPEG, PNG"), std::string::npos)
        << image.status();
  }
  // A supported format still decodes (PGM, as in Extended Yale B).
  const std::string pgm = std::string("P5\n2 2\n255\n") + std::string("\x10\x20\x30\x40", 4);
  absl::StatusOr<torch::Tensor> image = DecodeImage(pgm, options);
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(image->size(1), 8);
}

std::string Encode(const std::string& extension, const cv::Mat& image) {
  std::vector<uchar> bytes;
  EXPECT_TRUE(cv::imencode(extension, image, bytes)) << extension;
  return std::string(bytes.begin(), bytes.end());
}

cv::Mat Noise(int rows, int cols, int type) {
  cv::Mat image(rows, cols, type);
  cv::randu(image, 0, 255);
  return image;
}

// Issue 15: the pixel budget is read from the header of every format we decode.
TEST(ImageDecodeTest, HeaderPixelsOfEveryFormat) {
  for (const char* extension : {".png", ".jpg", ".bmp", ".pgm", ".ppm", ".tiff", ".webp"}) {
    const int type = std::string(extension) == ".pgm" ? CV_8UC1 : CV_8UC3;
    EXPECT_EQ(ImageHeaderPixels(Encode(extension, Noise(200, 300, type))), 60000) << extension;
  }
  EXPECT_EQ(ImageHeaderPixels("P5\n# comment\n 300  200\n255\n"), 60000);
  EXPECT_EQ(ImageHeaderPixels("garbage"), 0);
  // Saturates instead of overflowing into a small (or negative) count.
  EXPECT_EQ(ImageHeaderPixels("P5 99999999999 99999999999 255\n"),
            std::numeric_limits<int64_t>::max());
}

// A small file claiming 100 megapixels (a "decompression bomb") is refused before decoding.
TEST(ImageDecodeTest, ImagesOverThePixelBudgetAreRefusedBeforeDecoding) {
  std::string png = Encode(".png", Noise(4, 4, CV_8UC1));
  for (int at : {16, 20}) {  // IHDR width, height: 10000 each
    png[at] = 0, png[at + 1] = 0, png[at + 2] = 0x27, png[at + 3] = 0x10;
  }
  ImageOptions options;
  options.size = 8;
  const absl::StatusOr<torch::Tensor> bomb = DecodeImage(png, options);
  ASSERT_FALSE(bomb.ok());
  EXPECT_NE(bomb.status().message().find("refused before decoding"), std::string::npos)
      << bomb.status();
  EXPECT_TRUE(DecodeImage(Encode(".png", Noise(40, 40, CV_8UC1)), options).ok());
}

// Junk bytes before a JPEG's frame header: libjpeg skips them (with a warning) and would decode the
// frame the header states, so the pixel limit must read the header as libjpeg does.
TEST(ImageDecodeTest, AJunkByteBeforeTheJpegFrameHeaderDoesNotHideItsSize) {
  std::string jpeg = Encode(".jpg", Noise(16, 16, CV_8UC1));
  size_t sof = std::string::npos;
  for (size_t at = 2; at + 9 < jpeg.size(); ++at) {
    if (static_cast<uint8_t>(jpeg[at]) == 0xff && static_cast<uint8_t>(jpeg[at + 1]) == 0xc0) {
      sof = at;
      break;
    }
  }
  ASSERT_NE(sof, std::string::npos) << "no baseline frame header";
  for (size_t at : {sof + 5, sof + 7}) jpeg[at] = 0x27, jpeg[at + 1] = 0x10;  // 10000 x 10000
  EXPECT_EQ(ImageHeaderPixels(jpeg), 100'000'000);
  jpeg.insert(sof, 1, '\x42');  // one junk byte before FF C0
  EXPECT_EQ(ImageHeaderPixels(jpeg), 100'000'000);
  ImageOptions options;
  options.size = 8;
  const absl::StatusOr<torch::Tensor> bomb = DecodeImage(jpeg, options);
  ASSERT_FALSE(bomb.ok());
  EXPECT_NE(bomb.status().message().find("refused before decoding"), std::string::npos)
      << bomb.status();
}

// libjpeg only warns about a JPEG cut short and fills the rest with grey; we refuse it.
TEST(ImageDecodeTest, TruncatedJpegIsRefusedTrailingDataIsNot) {
  ImageOptions options;
  options.size = 8;
  const std::string jpeg = Encode(".jpg", Noise(64, 64, CV_8UC3));
  ASSERT_TRUE(DecodeImage(jpeg, options).ok());
  const absl::StatusOr<torch::Tensor> cut =
      DecodeImage(jpeg.substr(0, jpeg.size() * 4 / 10), options);
  ASSERT_FALSE(cut.ok());
  EXPECT_NE(cut.status().message().find("truncated JPEG"), std::string::npos) << cut.status();
  EXPECT_FALSE(DecodeImage(jpeg.substr(0, jpeg.size() - 2), options).ok());  // only EOI missing
  EXPECT_TRUE(DecodeImage(jpeg + "trailing camera data", options).ok());
}

// The loader counts and names a truncated JPEG like any unreadable image.
TEST(ImageFolderTest, TruncatedJpegIsSkippedAndNamed) {
  const std::string root = ::testing::TempDir() + "/truncated_folder";
  std::filesystem::remove_all(root);
  std::filesystem::create_directories(root + "/alice");
  const std::string jpeg = Encode(".jpg", Noise(32, 32, CV_8UC3));
  std::ofstream(root + "/alice/whole.jpg", std::ios::binary) << jpeg;
  std::ofstream(root + "/alice/cut.jpg", std::ios::binary) << jpeg.substr(0, jpeg.size() * 4 / 10);
  ImageOptions options;
  options.size = 8;
  absl::StatusOr<Dataset> d = LoadImageFolder(root, options);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->size(), 1);
  EXPECT_EQ(d->skipped_images, 1);
  EXPECT_EQ(d->skipped_names, std::vector<std::string>{"alice/cut.jpg"});
}

TEST(ImageDecodeTest, DecodedTensorsOwnTheirPixels) {
  // A grey image's CHW view used to alias the decoder's freed buffer; decoding more images then
  // overwrote the first one.
  std::vector<torch::Tensor> kept;
  for (int value : {10, 200, 90, 160}) {
    std::vector<uchar> png;
    cv::imencode(".png", cv::Mat(12, 12, CV_8UC1, cv::Scalar(value)), png);
    ImageOptions options;
    options.size = 8;
    absl::StatusOr<torch::Tensor> image = DecodeImage(std::string(png.begin(), png.end()), options);
    ASSERT_TRUE(image.ok());
    kept.push_back(*image);
  }
  std::vector<uchar> filler;
  for (int i = 0; i < 50; ++i)
    cv::imencode(".png", cv::Mat(64, 64, CV_8UC1, cv::Scalar(255)), filler);
  EXPECT_EQ(kept[0].min().item<int>(), 10);
  EXPECT_EQ(kept[0].max().item<int>(), 10);
  EXPECT_EQ(kept[1].min().item<int>(), 200);
  EXPECT_EQ(kept[3].max().item<int>(), 160);
  EXPECT_FALSE(DecodeImage("garbage", ImageOptions()).ok());
}

TEST(ImageFolderTest, ColourOutputIsRgb) {
  const std::string root = FreshDir("colour");
  fs::create_directories(root + "/a");
  cv::Mat bgr(10, 10, CV_8UC3, cv::Scalar(255, 0, 0));  // pure blue in OpenCV's BGR
  cv::imwrite(root + "/a/blue.png", bgr);
  ImageOptions options;
  options.size = 4;
  options.channels = 3;
  absl::StatusOr<Dataset> d = LoadImageFolder(root, options);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->images[0][2].min().item<int>(), 255);  // B plane last in RGB
  EXPECT_EQ(d->images[0][0].max().item<int>(), 0);
}

// A symlink loop, a dangling link and a looping identity folder are skipped and named; the walk
// never throws (it used to end the worker with std::filesystem::filesystem_error).
TEST(ImageFolderTest, LinksThatCannotBeFollowedAreSkippedAndNamed) {
  const std::string root = FreshDir("links");
  fs::create_directories(root + "/a");
  fs::create_directories(root + "/b");
  WriteImage(root + "/a/1.pgm", 10);
  WriteImage(root + "/b/1.pgm", 20);
  fs::create_symlink("loop.jpg", root + "/a/loop.jpg");  // points at itself
  fs::create_symlink(root + "/no/such/file.png", root + "/a/dangling.png");
  fs::create_symlink("c", root + "/c");  // an identity folder that loops
  ::testing::internal::CaptureStderr();
  absl::StatusOr<SourceListing> listing = ListImageFolder(root);
  const std::string log = ::testing::internal::GetCapturedStderr();
  ASSERT_TRUE(listing.ok()) << listing.status();
  EXPECT_EQ(listing->sample_names, (std::vector<std::string>{"a/1.pgm", "b/1.pgm"}));
  EXPECT_NE(log.find("skipped: " + root + "/a/loop.jpg ("), std::string::npos) << log;
  EXPECT_NE(log.find("skipped: " + root + "/c ("), std::string::npos) << log;
}

TEST(ImageFolderTest, MissingOrEmptyFolderIsAnError) {
  EXPECT_FALSE(LoadImageFolder("/no/such/dir", ImageOptions()).ok());
  EXPECT_FALSE(LoadImageFolder(FreshDir("nothing"), ImageOptions()).ok());
}

void WriteIdx(const std::string& path, const std::vector<uint8_t>& header,
              const std::vector<uint8_t>& body, bool gzip) {
  std::string bytes(header.begin(), header.end());
  bytes.append(body.begin(), body.end());
  if (gzip) {
    gzFile f = gzopen(path.c_str(), "wb");
    gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
    gzclose(f);
  } else {
    std::ofstream(path, std::ios::binary) << bytes;
  }
}

TEST(IdxTest, ReadsGzipAndRawFiles) {
  const std::string dir = FreshDir("idx");
  std::vector<uint8_t> pixels(3 * 2 * 2);
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<uint8_t>(i * 20);
  WriteIdx(dir + "/img.gz", {0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 2}, pixels, true);
  WriteIdx(dir + "/lab", {0, 0, 8, 1, 0, 0, 0, 3}, {2, 0, 2}, false);
  ImageOptions options;
  options.size = 2;
  absl::StatusOr<Dataset> d = LoadIdx(dir + "/img.gz", dir + "/lab", options);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->size(), 3);
  // Label 1 has no sample: dropped, labels dense (0 -> 0, 2 -> 1).
  EXPECT_EQ(d->num_classes(), 2);
  EXPECT_TRUE(torch::equal(d->labels, torch::tensor({1, 0, 1}, torch::kInt64)));
  EXPECT_EQ(d->images[1][0][0][1].item<int>(), 100);
}

TEST(IdxTest, TruncatedOrForeignFilesAreClearErrors) {
  const std::string dir = FreshDir("idx_bad");
  WriteIdx(dir + "/short.gz", {0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 2}, {1, 2, 3}, true);
  WriteIdx(dir + "/lab", {0, 0, 8, 1, 0, 0, 0, 3}, {0, 1, 2}, false);
  WriteIdx(dir + "/foreign", {0x89, 'P', 'N', 'G'}, {}, false);
  absl::StatusOr<Dataset> truncated = LoadIdx(dir + "/short.gz", dir + "/lab", ImageOptions());
  ASSERT_FALSE(truncated.ok());
  EXPECT_NE(truncated.status().message().find("truncated"), std::string::npos)
      << truncated.status();
  EXPECT_NE(truncated.status().message().find("short.gz"), std::string::npos);
  EXPECT_FALSE(LoadIdx(dir + "/foreign", dir + "/lab", ImageOptions()).ok());
  EXPECT_FALSE(LoadIdx(dir + "/missing", dir + "/lab", ImageOptions()).ok());
}

// Found by fuzzing: header sizes whose product overflows, and zero-size images.
TEST(IdxTest, ForgedHeaderSizesAreErrorsNotCrashes) {
  const std::string dir = FreshDir("idx_forged");
  WriteIdx(dir + "/huge",
           {0, 0, 8, 3, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
           {1, 2, 3}, false);
  WriteIdx(dir + "/flat", {0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 0}, {}, false);
  WriteIdx(dir + "/lab", {0, 0, 8, 1, 0, 0, 0, 2}, {0, 1}, false);
  absl::StatusOr<Dataset> huge = LoadIdx(dir + "/huge", dir + "/lab", ImageOptions());
  ASSERT_FALSE(huge.ok());
  EXPECT_NE(huge.status().message().find("need more bytes"), std::string::npos) << huge.status();
  absl::StatusOr<Dataset> flat = LoadIdx(dir + "/flat", dir + "/lab", ImageOptions());
  ASSERT_FALSE(flat.ok());
  EXPECT_NE(flat.status().message().find("3 x 0"), std::string::npos) << flat.status();
  EXPECT_FALSE(ListIdx(dir + "/flat", dir + "/lab").ok());
}

TEST(IdxTest, ReadsFashionMnistFromDebian) {
  const std::string images = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz";
  const std::string labels = "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz";
  ASSERT_TRUE(fs::exists(images)) << "install dataset-fashion-mnist (scripts/setup.sh does)";
  ImageOptions options;
  options.size = 28;
  absl::StatusOr<Dataset> d = LoadIdx(images, labels, options, 500);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->size(), 500);
  EXPECT_EQ(d->num_classes(), 10);
}

TEST(ManifestTest, LoadsOnlyTheListedImagesAndRoundTrips) {
  const std::string root = FreshDir("manifest_folder");
  for (const char* who : {"ann", "bea", "cid"}) {
    fs::create_directories(root + "/" + who);
    for (int i = 0; i < 3; ++i)
      WriteImage(absl::StrCat(root, "/", who, "/", i, ".png"), 40 * i + 5);
  }
  absl::StatusOr<SourceListing> listing = ListImageFolder(root);
  ASSERT_TRUE(listing.ok()) << listing.status();
  ASSERT_EQ(listing->sample_names.size(), 9u);
  EXPECT_EQ(listing->sample_names[4], "bea/1.png");
  EXPECT_EQ(listing->identities[4], "bea");

  const std::string manifest = root + "/../manifest_folder.txt";
  ASSERT_TRUE(WriteManifest(manifest, {"cid/2.png", "ann/1.png", "cid/0.png"}).ok());
  absl::StatusOr<std::vector<std::string>> names = ReadManifest(manifest);
  ASSERT_TRUE(names.ok()) << names.status();
  EXPECT_EQ(*names, (std::vector<std::string>{"cid/2.png", "ann/1.png", "cid/0.png"}));

  DataConfig config;
  config.path = root;
  config.manifest = manifest;
  ModelShape shape;
  shape.input_size = 8;
  absl::StatusOr<Dataset> d = LoadDataset(config, shape, 1);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->size(), 3);
  EXPECT_EQ(d->class_names, (std::vector<std::string>{"ann", "cid"}));  // bea: nothing listed
  EXPECT_EQ(d->sample_names, (std::vector<std::string>{"ann/1.png", "cid/0.png", "cid/2.png"}));
  EXPECT_TRUE(torch::equal(d->labels, torch::tensor({0, 1, 1}, torch::kInt64)));
  EXPECT_EQ(d->images[2][0][0][0].item<int>(), 85);  // cid/2.png's pixel value

  // A listed file that is gone is a counted skip; a path escaping the root is refused.
  std::vector<std::string> gone = {"ann/0.png", "ann/9.png"};
  absl::StatusOr<Dataset> partial = LoadImageFolder(root, ImageOptions(), nullptr, &gone);
  ASSERT_TRUE(partial.ok()) << partial.status();
  EXPECT_EQ(partial->size(), 1);
  EXPECT_EQ(partial->skipped_names, (std::vector<std::string>{"ann/9.png"}));
  std::vector<std::string> escape = {"ann/../../etc/passwd"};
  EXPECT_FALSE(LoadImageFolder(root, ImageOptions(), nullptr, &escape).ok());
  std::ofstream(root + "/../empty_manifest.txt") << "\n\n";
  EXPECT_FALSE(ReadManifest(root + "/../empty_manifest.txt").ok());
  EXPECT_FALSE(ReadManifest(root + "/../no_such_manifest.txt").ok());
}

TEST(ManifestTest, RegularIdentitiesFileOverridesTheCountRule) {
  const std::string root = FreshDir("regular_folder");
  for (const char* who : {"few", "many"}) {
    fs::create_directories(root + "/" + who);
    for (int i = 0; i < (who[0] == 'f' ? 2 : 6); ++i)
      WriteImage(absl::StrCat(root, "/", who, "/", i, ".png"), 9);
  }
  DataConfig config;
  config.path = root;
  config.ur_max_images = 3;
  ModelShape shape;
  shape.input_size = 8;
  absl::StatusOr<Dataset> by_count = LoadDataset(config, shape, 1);
  ASSERT_TRUE(by_count.ok());
  EXPECT_TRUE(torch::equal(RegularClassMask(*by_count, 3), torch::tensor({false, true})));
  std::ofstream(root + "/../regular_list.txt") << "few\n";
  config.regular_identities = root + "/../regular_list.txt";
  absl::StatusOr<Dataset> listed = LoadDataset(config, shape, 1);
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_TRUE(torch::equal(RegularClassMask(*listed, 3), torch::tensor({true, false})));
}

TEST(ManifestTest, IdxSubsetsByIndexAndRefusesIndicesPastTheEnd) {
  const std::string dir = FreshDir("idx_manifest");
  std::vector<uint8_t> pixels(4 * 2 * 2);
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<uint8_t>(i * 10);
  WriteIdx(dir + "/img", {0, 0, 8, 3, 0, 0, 0, 4, 0, 0, 0, 2, 0, 0, 0, 2}, pixels, false);
  WriteIdx(dir + "/lab", {0, 0, 8, 1, 0, 0, 0, 4}, {3, 1, 3, 0}, false);
  absl::StatusOr<SourceListing> listing = ListIdx(dir + "/img", dir + "/lab");
  ASSERT_TRUE(listing.ok()) << listing.status();
  EXPECT_EQ(listing->sample_names, (std::vector<std::string>{"#0", "#1", "#2", "#3"}));
  EXPECT_EQ(listing->identities, (std::vector<std::string>{"3", "1", "3", "0"}));
  ImageOptions options;
  options.size = 2;
  std::vector<std::string> only = {"#2", "#1"};
  absl::StatusOr<Dataset> d = LoadIdx(dir + "/img", dir + "/lab", options, 0, &only);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->sample_names, (std::vector<std::string>{"#1", "#2"}));
  EXPECT_EQ(d->class_names, (std::vector<std::string>{"1", "3"}));
  EXPECT_EQ(d->images[1][0][0][0].item<int>(), 80);  // first pixel of image 2
  std::vector<std::string> past = {"#4"};
  absl::StatusOr<Dataset> bad = LoadIdx(dir + "/img", dir + "/lab", options, 0, &past);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("past the end"), std::string::npos) << bad.status();
  std::vector<std::string> garbage = {"3"};
  EXPECT_FALSE(LoadIdx(dir + "/img", dir + "/lab", options, 0, &garbage).ok());
}

TEST(YawTest, AttachesYawByNameAndLeavesUnlistedSamplesUnknown) {
  Dataset d = testing::SyntheticDataset({2, 1});
  const std::string csv = ::testing::TempDir() + "/yaw.csv";
  std::ofstream(csv) << "name,yaw\nclass0/1.png, -35.5\nclass1/0.png,10\n";
  ASSERT_TRUE(AttachYaw(csv, &d).ok());
  // class0/0.png is not in the CSV: its pose is unknown (NaN), not frontal.
  EXPECT_TRUE(std::isnan(d.yaw[0].item<float>()));
  EXPECT_FLOAT_EQ(d.yaw[1].item<float>(), -35.5f);
  EXPECT_FLOAT_EQ(d.yaw[2].item<float>(), 10.0f);
  std::ofstream(csv) << "name,yaw\nclass0/1.png,abc\n";
  EXPECT_FALSE(AttachYaw(csv, &d).ok());
}

TEST(SplitTest, RegularAndUrByImageCount) {
  const Dataset d = testing::SyntheticDataset({6, 5, 2});
  EXPECT_TRUE(torch::equal(RegularClassMask(d, 5), torch::tensor({true, false, false})));
}

TEST(SplitTest, CutSmallestClassesIsDeterministic) {
  const Dataset d = testing::SyntheticDataset({9, 7, 8});
  const Dataset cut = CutSmallestClasses(d, 2, 3, 11);
  EXPECT_TRUE(torch::equal(cut.ClassCounts(), torch::tensor({9, 3, 3}, torch::kInt64)));
  EXPECT_EQ(cut.sample_names, CutSmallestClasses(d, 2, 3, 11).sample_names);
  EXPECT_NE(cut.sample_names, CutSmallestClasses(d, 2, 3, 12).sample_names);
  const Dataset top = KeepLargestClasses(d, 2);
  EXPECT_EQ(top.class_names, (std::vector<std::string>{"class0", "class2"}));
  EXPECT_TRUE(torch::equal(top.ClassCounts(), torch::tensor({9, 8}, torch::kInt64)));
}

TEST(SamplerTest, EpochSamplerVisitsEverySampleOncePerEpoch) {
  EpochSampler sampler(torch::arange(10, torch::kInt64) * 3, 5, SampleStream::kPretrain);
  std::vector<int64_t> seen;
  for (int64_t step = 0; step < 5; ++step) {
    const torch::Tensor b = sampler.Batch(step, 2);
    seen.insert(seen.end(), b.data_ptr<int64_t>(), b.data_ptr<int64_t>() + 2);
  }
  std::sort(seen.begin(), seen.end());
  std::vector<int64_t> expected;
  for (int i = 0; i < 10; ++i) expected.push_back(3 * i);
  EXPECT_EQ(seen, expected);
}

TEST(SamplerTest, BatchesArePureFunctionsOfSeedStreamAndStep) {
  EpochSampler a(torch::arange(50, torch::kInt64), 1, SampleStream::kPretrain);
  EpochSampler b(torch::arange(50, torch::kInt64), 1, SampleStream::kPretrain);
  EpochSampler other(torch::arange(50, torch::kInt64), 1, SampleStream::kStageTwo);
  b.Batch(40, 8);  // a different history must not matter
  EXPECT_TRUE(torch::equal(a.Batch(3, 8), b.Batch(3, 8)));
  EXPECT_FALSE(torch::equal(a.Batch(3, 8), other.Batch(3, 8)));
}

TEST(SamplerTest, ClassBalancedDrawsOnlyFromItsClassesAndEvenly) {
  const Dataset d = testing::SyntheticDataset({50, 2, 8});
  ClassBalancedSampler sampler(d.labels, {1, 2}, 3, SampleStream::kStageOneUr);
  const torch::Tensor drawn = d.labels.index_select(0, sampler.Batch(0, 4000));
  EXPECT_EQ((drawn == 0).sum().item<int64_t>(), 0);
  const double share = (drawn == 1).to(torch::kFloat64).mean().item<double>();
  EXPECT_NEAR(share, 0.5, 0.05);  // class-balanced, not proportional (2 vs 8 images)
  EXPECT_TRUE(ClassBalancedSampler(d.labels, {}, 3, SampleStream::kStageOneUr).empty());
}

TEST(SamplerTest, RankSlicesPartitionTheGlobalBatch) {
  const torch::Tensor global = torch::arange(12, torch::kInt64);
  EXPECT_TRUE(torch::equal(
      torch::cat({RankSlice(global, 0, 3), RankSlice(global, 1, 3), RankSlice(global, 2, 3)}),
      global));
}

}  // namespace
}  // namespace ftl
