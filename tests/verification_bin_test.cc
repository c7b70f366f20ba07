// common/data/verification_bin: the pickles Python writes for InsightFace's .bin files (protocols
// 2 and 4, Python 2 str), and refusals for everything else — above all code-executing opcodes.
#include "common/data/verification_bin.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

namespace ftl {
namespace {

std::string Bytes(std::initializer_list<int> values) {
  std::string s;
  for (int v : values) s.push_back(static_cast<char>(v));
  return s;
}

// pickle.dumps(([b'ab', b'cd'], [True]), protocol=2) by Python 3: bytes as
// _codecs.encode('ab', 'latin1'), i.e. GLOBAL + REDUCE, recognised as data.
const std::string kProtocol2 =
    Bytes({128, 2,   93,  113, 0,   40,  99,  95,  99,  111, 100, 101, 99,  115, 10,  101, 110,
           99,  111, 100, 101, 10,  113, 1,   88,  2,   0,   0,   0,   97,  98,  113, 2,   88,
           6,   0,   0,   0,   108, 97,  116, 105, 110, 49,  113, 3,   134, 113, 4,   82,  113,
           5,   104, 1,   88,  2,   0,   0,   0,   99,  100, 113, 6,   104, 3,   134, 113, 7,
           82,  113, 8,   101, 93,  113, 9,   136, 97,  134, 113, 10,  46});

TEST(VerificationBinTest, ReadsProtocol2) {
  absl::StatusOr<VerificationBin> bin = ParseVerificationBin(kProtocol2);
  ASSERT_TRUE(bin.ok()) << bin.status();
  EXPECT_EQ(bin->images, (std::vector<std::string>{"ab", "cd"}));
  EXPECT_EQ(bin->same, std::vector<bool>{true});
}

// pickle.dumps(([b'ab', b'cd', b'ef', b'gh'], [True, False]), protocol=4): FRAME and MEMOIZE.
TEST(VerificationBinTest, ReadsProtocol4WithFramesAndMemo) {
  const std::string p4 =
      Bytes({128, 4,   149, 33,  0,   0,  0,   0,   0,   0,   0,   93,  148, 40,  67,
             2,   97,  98,  148, 67,  2,  99,  100, 148, 67,  2,   101, 102, 148, 67,
             2,   103, 104, 148, 101, 93, 148, 40,  136, 137, 101, 134, 148, 46});
  absl::StatusOr<VerificationBin> bin = ParseVerificationBin(p4);
  ASSERT_TRUE(bin.ok()) << bin.status();
  EXPECT_EQ(bin->images.size(), 4u);
  EXPECT_EQ(bin->images[3], "gh");
  EXPECT_EQ(bin->same, (std::vector<bool>{true, false}));
}

// Python 2's pickle of str images (read with encoding='bytes' by InsightFace): SHORT_BINSTRING.
TEST(VerificationBinTest, ReadsPython2Strings) {
  const std::string p2 = Bytes({0x80, 0x02, ']', 'q', 0x01, '(', 'U',  0x02, 'a', 'b',  'U',
                                0x02, 'c',  'd', 'e', ']',  'q', 0x02, 0x89, 'a', 0x86, '.'});
  absl::StatusOr<VerificationBin> bin = ParseVerificationBin(p2);
  ASSERT_TRUE(bin.ok()) << bin.status();
  EXPECT_EQ(bin->same, std::vector<bool>{false});
}

TEST(VerificationBinTest, CodeExecutingOpcodesAreRefusedByName) {
  // pickle of os.system('x'): GLOBAL then REDUCE.
  static const char kEvil[] =
      "\x80\x02"
      "cos\nsystem\n"
      "q\x00"
      "X\x01\x00\x00\x00x"
      "\x85"
      "R.";
  const std::string evil(kEvil, sizeof(kEvil) - 1);
  absl::StatusOr<VerificationBin> bin = ParseVerificationBin(evil);
  ASSERT_FALSE(bin.ok());
  EXPECT_NE(bin.status().message().find("GLOBAL"), std::string::npos) << bin.status();
  // _codecs.encode with another encoding is not data either.
  std::string other = kProtocol2;
  other.replace(other.find("latin1"), 6, "utf_16");
  EXPECT_NE(ParseVerificationBin(other).status().message().find("REDUCE"), std::string::npos);
  EXPECT_NE(bin.status().message().find("nothing is ever executed"), std::string::npos);
  const std::string stack_global = Bytes({0x80, 0x04, 0x8c, 0x01, 'a', 0x8c, 0x01, 'b', 0x93, '.'});
  EXPECT_NE(ParseVerificationBin(stack_global).status().message().find("STACK_GLOBAL"),
            std::string::npos);
}

// Hostile structure: nesting that would recurse on destruction, a list inside itself, one large
// image referenced many times, a flood of one-byte values — each refused, none exhausting memory.
TEST(VerificationBinTest, HostileStructuresAreRefusedCheaply) {
  std::string deep = Bytes({0x80, 0x04, ']'}) + std::string(100000, '\x85') + ".";
  EXPECT_NE(ParseVerificationBin(deep).status().message().find("nested"), std::string::npos);
  // ]q\0 (  h\0  e : a list appended into itself.
  const std::string self = Bytes({0x80, 0x02, ']', 'q', 0x00, '(', 'h', 0x00, 'e', '.'});
  EXPECT_NE(ParseVerificationBin(self).status().message().find("second reference"),
            std::string::npos);
  // One 1000-byte image memoised, then referenced 2000 times in the image list.
  std::string repeated = Bytes({0x80, 0x02, ']', '(', 'B', 0xe8, 0x03, 0, 0}) +
                         std::string(1000, 'x') + Bytes({'q', 0x01});
  for (int i = 0; i < 2000; ++i) repeated += Bytes({'h', 0x01});
  repeated += Bytes({'e', ']', '('});
  for (int i = 0; i < 1001; ++i) repeated += Bytes({0x88});
  repeated += Bytes({'e', 0x86, '.'});
  EXPECT_NE(ParseVerificationBin(repeated).status().message().find("repeated by reference"),
            std::string::npos);
  const std::string flood = Bytes({0x80, 0x04}) + std::string(2'100'000, '(');
  EXPECT_NE(ParseVerificationBin(flood).status().message().find("more values"), std::string::npos);
  // A 19-digit INT would overflow: refused.
  static const char kLongInt[] = "\x80\x02I9999999999999999999\n.";
  EXPECT_FALSE(ParseVerificationBin(std::string(kLongInt, sizeof(kLongInt) - 1)).ok());
}

TEST(VerificationBinTest, TruncatedOrForeignInputIsRefused) {
  for (size_t n = 0; n < kProtocol2.size(); ++n) {
    EXPECT_FALSE(ParseVerificationBin(kProtocol2.substr(0, n)).ok()) << n;
  }
  EXPECT_FALSE(ParseVerificationBin("plain text").ok());
  // A length that points past the end must not allocate or read it.
  EXPECT_FALSE(ParseVerificationBin(
                   Bytes({0x80, 0x04, 0x8e, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}))
                   .ok());
  // Images not twice the pairs: pickle.dumps(([b'ab'], [True]), 2).
  const std::string odd =
      Bytes({0x80, 0x02, ']', 'C', 0x02, 'a', 'b', 'a', ']', 0x88, 'a', 0x86, '.'});
  absl::StatusOr<VerificationBin> bin = ParseVerificationBin(odd);
  ASSERT_FALSE(bin.ok());
  EXPECT_NE(bin.status().message().find("two per pair"), std::string::npos) << bin.status();
  EXPECT_EQ(ReadVerificationBin("/no/such/lfw.bin").status().code(), absl::StatusCode::kNotFound);
}

// The seed corpus of the fuzz target: pickles Python wrote at protocols 2-5, Python 2's str, and a
// list long enough that protocol 2 batches its APPENDS.
TEST(VerificationBinTest, ReadsEveryPickleOfTheFuzzCorpus) {
  const std::string dir = FTL_SOURCE_DIR "/tests/fuzz/corpus/fuzz_verification_bin";
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().filename().string().rfind("regress-", 0) == 0) continue;
    absl::StatusOr<VerificationBin> bin = ReadVerificationBin(entry.path().string());
    ASSERT_TRUE(bin.ok()) << entry.path() << ": " << bin.status();
    EXPECT_EQ(bin->images.size(), 2 * bin->same.size());
    ++files;
  }
  EXPECT_GE(files, 6);
}

}  // namespace
}  // namespace ftl
