#include "common/util/log.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

namespace ftl {
namespace {

TEST(LogTest, PrintableTextEscapesEveryControlCharacter) {
  EXPECT_EQ(PrintableText("plain text, é and 日本"), "plain text, é and 日本");
  EXPECT_EQ(PrintableText("a\nb\tc\rd"), "a\\nb\\tc\\x0dd");
  EXPECT_EQ(PrintableText("\x1b[31mred\x7f"), "\\x1b[31mred\\x7f");
  EXPECT_EQ(PrintableText(std::string("nul\0x", 5)), "nul\\x00x");
  EXPECT_EQ(PrintableText("csi \xc2\x9b"
                          "2J, nbsp \xc2\xa0"),
            "csi \\u009b2J, nbsp \xc2\xa0");
  for (int c = 0; c < 0x20; ++c) {
    const std::string escaped = PrintableText(std::string(1, static_cast<char>(c)));
    EXPECT_TRUE(std::none_of(escaped.begin(), escaped.end(), [](char e) {
      return static_cast<unsigned char>(e) < 0x20;
    })) << c;
  }
}

TEST(LogTest, ALoggedNameCannotForgeALine) {
  ::testing::internal::CaptureStderr();
  Log("job 'x\n2026-01-01 00:00:00 forged' started");
  const std::string out = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
  EXPECT_NE(out.find("x\\n2026-01-01"), std::string::npos) << out;
}

}  // namespace
}  // namespace ftl
