// What a gRPC peer of the coordinator proves and with what: bearer secrets read from files, the
// per-launch worker credential, and TLS credentials for both ends. The one place the CLI, the
// worker and the coordinator build channels and listening ports from (docs/operations.md,
// "Security model").
#ifndef FTL_SERVICES_SECURITY_CREDENTIALS_H_
#define FTL_SERVICES_SECURITY_CREDENTIALS_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ftl {

// The first line of `path`, trimmed. InvalidArgument naming `flag` and the file when it cannot be
// read or is empty: a secret silently missing would only show up later as UNAUTHENTICATED.
absl::StatusOr<std::string> ReadSecretFile(absl::string_view flag, const std::string& path);

// 256 random bits as 64 hex digits (std::random_device: the kernel's CSPRNG on Linux).
std::string RandomSecret();

// Constant-time comparison, so a secret cannot be guessed byte by byte from timings. Two empty
// strings do not match: an unset secret never admits a caller that presents none.
bool SameSecret(absl::string_view a, absl::string_view b);

// Writes `secret` to `path` readable by its owner only (0600), replacing any older file.
absl::Status WriteSecretFile(const std::string& path, const std::string& secret);

// A client's TLS files (PEM). An empty `ca` means plaintext.
struct ClientTls {
  std::string ca;           // roots that sign the coordinator's certificate
  std::string cert, key;    // the client's own, for mutual TLS (both or neither)
  std::string server_name;  // name to expect in the certificate instead of the dialled host
};

// A server's TLS files (PEM). An empty `cert` means plaintext.
struct ServerTls {
  std::string cert, key;
  std::string client_ca;  // non-empty: mutual TLS, a client certificate signed by it is required
};

// Each flag defaults to the environment variable in the comment when not given (FTL_TLS_CA,
// FTL_TLS_CERT, FTL_TLS_KEY, FTL_TLS_SERVER_NAME), so Slurm and Kubernetes pass them like
// FTL_TOKEN_FILE.
ClientTls ClientTlsWithEnvironment(ClientTls flags);

// A channel to `address` (plaintext when tls.ca is empty). InvalidArgument naming the file for a
// missing or unreadable one, or a cert without its key.
absl::StatusOr<std::shared_ptr<grpc::Channel>> DialCoordinator(const std::string& address,
                                                               const ClientTls& tls);

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const ServerTls& tls);

// True for addresses only this machine can reach: 127.x.x.x, localhost, [::1], unix: sockets.
bool IsLoopbackAddress(const std::string& address);

}  // namespace ftl

#endif  // FTL_SERVICES_SECURITY_CREDENTIALS_H_
