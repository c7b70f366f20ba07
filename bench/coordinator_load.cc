// GetJob / ListJobs requests per second from concurrent clients against a running coordinator.
//   coordinator_load --coordinator 127.0.0.1:50051 --job ID [--threads 4] [--seconds 10]
//                    [--tls_ca ca.pem] [--only GetJob]
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <iostream>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "ftl/v1/coordinator.grpc.pb.h"
#include "services/security/credentials.h"

ABSL_FLAG(std::string, coordinator, "127.0.0.1:50051", "coordinator address");
ABSL_FLAG(std::string, job, "", "a job id for GetJob");
ABSL_FLAG(std::string, token_file, "", "bearer token file");
ABSL_FLAG(int, threads, 4, "concurrent clients");
ABSL_FLAG(double, seconds, 10, "duration of each measurement");
ABSL_FLAG(std::string, tls_ca, "", "PEM CA of the coordinator's certificate: measure over TLS");
ABSL_FLAG(std::string, only, "", "measure only this call (GetJob or ListJobs)");

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  std::string token;
  if (!absl::GetFlag(FLAGS_token_file).empty())
    std::getline(std::ifstream(absl::GetFlag(FLAGS_token_file)), token);
  auto dialled = ftl::DialCoordinator(absl::GetFlag(FLAGS_coordinator),
                                      {absl::GetFlag(FLAGS_tls_ca), "", "", ""});
  if (!dialled.ok()) {
    std::cerr << dialled.status().message() << "\n";
    return 2;
  }
  std::shared_ptr<grpc::Channel> channel = *dialled;
  for (const std::string which : {"GetJob", "ListJobs"}) {
    if (!absl::GetFlag(FLAGS_only).empty() && which != absl::GetFlag(FLAGS_only)) continue;
    std::atomic<int64_t> ok{0}, failed{0};
    const auto end = std::chrono::steady_clock::now() +
                     std::chrono::duration<double>(absl::GetFlag(FLAGS_seconds));
    std::vector<std::thread> clients;
    for (int t = 0; t < absl::GetFlag(FLAGS_threads); ++t) {
      clients.emplace_back([&] {
        auto stub = ftl::v1::JobService::NewStub(channel);
        while (std::chrono::steady_clock::now() < end) {
          grpc::ClientContext context;
          if (!token.empty()) context.AddMetadata("authorization", "Bearer " + token);
          grpc::Status status;
          if (which == "GetJob") {
            ftl::v1::GetJobRequest request;
            request.set_id(absl::GetFlag(FLAGS_job));
            ftl::v1::Job job;
            status = stub->GetJob(&context, request, &job);
          } else {
            ftl::v1::ListJobsRequest request;
            ftl::v1::ListJobsResponse response;
            status = stub->ListJobs(&context, request, &response);
          }
          (status.ok() ? ok : failed)++;
        }
      });
    }
    for (auto& c : clients) c.join();
    std::cout << which << "_requests_per_second: " << ok / absl::GetFlag(FLAGS_seconds)
              << " (failed " << failed << ", " << absl::GetFlag(FLAGS_threads) << " clients)\n";
  }
  return 0;
}
