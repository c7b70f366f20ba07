// services/security: secrets from files, per-launch credentials, TLS option checks, loopback.
#include "services/security/credentials.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <set>

#include "tests/temp_dir.h"

namespace ftl {
namespace {

TEST(ReadSecretFileTest, FirstLineTrimmedAndErrorsNameFlagAndFile) {
  const std::string dir = testing::FreshDir("secrets");
  std::ofstream(dir + "/token") << "  s3cret \nsecond line\n";
  EXPECT_EQ(*ReadSecretFile("--token_file", dir + "/token"), "s3cret");
  const absl::StatusOr<std::string> missing = ReadSecretFile("--token_file", dir + "/absent");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("--token_file"), std::string::npos);
  EXPECT_NE(missing.status().message().find(dir + "/absent"), std::string::npos);
  std::ofstream(dir + "/empty") << "\n";
  EXPECT_FALSE(ReadSecretFile("--token_file", dir + "/empty").ok());
}

TEST(SecretTest, RandomSecretsAreLongHexAndDistinct) {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    const std::string secret = RandomSecret();
    EXPECT_EQ(secret.size(), 64u);
    EXPECT_EQ(secret.find_first_not_of("0123456789abcdef"), std::string::npos) << secret;
    seen.insert(secret);
  }
  EXPECT_EQ(seen.size(), 100u);
  EXPECT_TRUE(SameSecret("abc", "abc"));
  EXPECT_FALSE(SameSecret("abc", "abd"));
  EXPECT_FALSE(SameSecret("abc", "abcd"));
  EXPECT_FALSE(SameSecret("", "a"));
  EXPECT_FALSE(SameSecret("", ""));
}

TEST(SecretTest, WrittenSecretIsPrivateToItsOwner) {
  const std::string path = testing::FreshDir("written") + "/worker_credential";
  ASSERT_TRUE(WriteSecretFile(path, "abc").ok());
  struct stat info;
  ASSERT_EQ(stat(path.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  EXPECT_EQ(*ReadSecretFile("f", path), "abc");
}

TEST(TlsOptionsTest, IncompleteOrMissingFilesAreRefusedNamingTheFlag) {
  EXPECT_TRUE(MakeServerCredentials({}).ok());  // plaintext
  const absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> no_key =
      MakeServerCredentials({"cert.pem", "", ""});
  ASSERT_FALSE(no_key.ok());
  EXPECT_NE(no_key.status().message().find("--tls_key"), std::string::npos);
  EXPECT_FALSE(MakeServerCredentials({"", "", "ca.pem"}).ok());
  const absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> absent =
      MakeServerCredentials({"/no/such/cert.pem", "/no/such/key.pem", ""});
  ASSERT_FALSE(absent.ok());
  EXPECT_NE(absent.status().message().find("/no/such/cert.pem"), std::string::npos);

  EXPECT_TRUE(DialCoordinator("127.0.0.1:1", {}).ok());  // plaintext: connects lazily
  const absl::StatusOr<std::shared_ptr<grpc::Channel>> no_ca =
      DialCoordinator("127.0.0.1:1", {"/no/such/ca.pem", "", "", ""});
  ASSERT_FALSE(no_ca.ok());
  EXPECT_NE(no_ca.status().message().find("--tls_ca"), std::string::npos);
  const std::string dir = testing::FreshDir("pem");
  std::ofstream(dir + "/not.pem") << "hello";
  const absl::StatusOr<std::shared_ptr<grpc::Channel>> not_pem =
      DialCoordinator("127.0.0.1:1", {dir + "/not.pem", "", "", ""});
  ASSERT_FALSE(not_pem.ok());
  EXPECT_NE(not_pem.status().message().find("PEM"), std::string::npos);
  EXPECT_FALSE(DialCoordinator("127.0.0.1:1", {"", dir + "/c.pem", dir + "/k.pem", ""}).ok());
}

TEST(LoopbackTest, OnlyThisMachinesAddresses) {
  for (const char* address :
       {"127.0.0.1:50051", "127.1.2.3:1", "localhost:50051", "[::1]:50051", "unix:/tmp/s"}) {
    EXPECT_TRUE(IsLoopbackAddress(address)) << address;
  }
  for (const char* address :
       {"0.0.0.0:50051", "[::]:50051", "10.0.0.5:50051", "coordinator.example:443",
        "127example.com:1", "127.evil.example:1"}) {
    EXPECT_FALSE(IsLoopbackAddress(address)) << address;
  }
}

}  // namespace
}  // namespace ftl
