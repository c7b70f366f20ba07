#include "services/security/credentials.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/stat.h>

#include <cstdlib>
#include <random>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "common/util/file.h"
#include "common/util/status_macros.h"

namespace ftl {
namespace {

absl::StatusOr<std::string> ReadPem(absl::string_view what, const std::string& path) {
  absl::StatusOr<std::string> pem = ReadFileToString(path);
  if (!pem.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": cannot read '", path, "'"));
  }
  if (!absl::StrContains(*pem, "-----BEGIN ")) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": '", path, "' is not a PEM file"));
  }
  return pem;
}

std::string Env(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}

}  // namespace

absl::StatusOr<std::string> ReadSecretFile(absl::string_view flag, const std::string& path) {
  absl::StatusOr<std::string> text = ReadFileToString(path);
  if (!text.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(flag, ": cannot read '", path, "'"));
  }
  const std::string first_line = text->substr(0, text->find('\n'));
  std::string secret(absl::StripAsciiWhitespace(first_line));
  if (secret.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(flag, ": '", path, "' is empty"));
  }
  return secret;
}

std::string RandomSecret() {
  std::random_device random;
  std::string secret;
  for (int i = 0; i < 8; ++i) absl::StrAppendFormat(&secret, "%08x", random());
  return secret;
}

bool SameSecret(absl::string_view a, absl::string_view b) {
  if (a.size() != b.size() || a.empty()) return false;  // no secret is never a match
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

absl::Status WriteSecretFile(const std::string& path, const std::string& secret) {
  const mode_t old_mask = umask(077);  // created 0600: never readable by others, not even briefly
  absl::Status written = WriteFileAtomically(path, secret + "\n");
  umask(old_mask);
  if (written.ok() && chmod(path.c_str(), 0600) != 0) {
    return absl::InternalError(absl::StrCat("cannot make '", path, "' private"));
  }
  return written;
}

ClientTls ClientTlsWithEnvironment(ClientTls flags) {
  if (flags.ca.empty()) flags.ca = Env("FTL_TLS_CA");
  if (flags.cert.empty()) flags.cert = Env("FTL_TLS_CERT");
  if (flags.key.empty()) flags.key = Env("FTL_TLS_KEY");
  if (flags.server_name.empty()) flags.server_name = Env("FTL_TLS_SERVER_NAME");
  return flags;
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> DialCoordinator(const std::string& address,
                                                               const ClientTls& tls) {
  grpc::ChannelArguments arguments;
  if (tls.ca.empty()) {
    if (!tls.cert.empty() || !tls.key.empty()) {
      return absl::InvalidArgumentError(
          "--tls_cert/--tls_key: a client certificate needs --tls_ca (the CA of the coordinator)");
    }
    return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), arguments);
  }
  grpc::SslCredentialsOptions options;
  FTL_ASSIGN_OR_RETURN(options.pem_root_certs, ReadPem("--tls_ca", tls.ca));
  if (tls.cert.empty() != tls.key.empty()) {
    return absl::InvalidArgumentError("--tls_cert and --tls_key: give both or neither");
  }
  if (!tls.cert.empty()) {
    FTL_ASSIGN_OR_RETURN(options.pem_cert_chain, ReadPem("--tls_cert", tls.cert));
    FTL_ASSIGN_OR_RETURN(options.pem_private_key, ReadPem("--tls_key", tls.key));
  }
  if (!tls.server_name.empty()) arguments.SetSslTargetNameOverride(tls.server_name);
  return grpc::CreateCustomChannel(address, grpc::SslCredentials(options), arguments);
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const ServerTls& tls) {
  if (tls.cert.empty()) {
    if (!tls.key.empty() || !tls.client_ca.empty()) {
      return absl::InvalidArgumentError("--tls_key/--tls_client_ca need --tls_cert");
    }
    return grpc::InsecureServerCredentials();
  }
  if (tls.key.empty()) return absl::InvalidArgumentError("--tls_cert needs --tls_key");
  grpc::SslServerCredentialsOptions options(
      tls.client_ca.empty() ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                            : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  FTL_ASSIGN_OR_RETURN(pair.cert_chain, ReadPem("--tls_cert", tls.cert));
  FTL_ASSIGN_OR_RETURN(pair.private_key, ReadPem("--tls_key", tls.key));
  options.pem_key_cert_pairs.push_back(std::move(pair));
  if (!tls.client_ca.empty()) {
    FTL_ASSIGN_OR_RETURN(options.pem_root_certs, ReadPem("--tls_client_ca", tls.client_ca));
  }
  return grpc::SslServerCredentials(options);
}

bool IsLoopbackAddress(const std::string& address) {
  if (absl::StartsWith(address, "unix:")) return true;
  std::string host = address;
  if (absl::StartsWith(host, "ipv4:") || absl::StartsWith(host, "ipv6:")) host = host.substr(5);
  host = host.substr(0, host.rfind(':'));
  if (host == "localhost") return true;
  if (absl::StartsWith(host, "[") && absl::EndsWith(host, "]")) {
    in6_addr ip6;
    return inet_pton(AF_INET6, host.substr(1, host.size() - 2).c_str(), &ip6) == 1 &&
           IN6_IS_ADDR_LOOPBACK(&ip6);
  }
  in_addr ip4;  // a literal address only: "127.example.com" is a host name like any other
  return inet_pton(AF_INET, host.c_str(), &ip4) == 1 && (ntohl(ip4.s_addr) >> 24) == 127;
}

}  // namespace ftl
