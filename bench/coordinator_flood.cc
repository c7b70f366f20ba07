// Floods a coordinator: N concurrent submissions, W open WatchJob streams, a full listing, then
// cancels everything and checks that every watcher saw its job end. Exit 1 if anything was
// dropped (a failed submission, a job missing from the listing, a watcher without its end).
//   coordinator_flood --coordinator ADDR --job_json FILE [--submissions 1000] [--watchers 50]
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <iostream>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "ftl/v1/coordinator.grpc.pb.h"
#include "google/protobuf/util/json_util.h"

ABSL_FLAG(std::string, coordinator, "127.0.0.1:50051", "coordinator address");
ABSL_FLAG(std::string, token_file, "", "bearer token file");
ABSL_FLAG(std::string, job_json, "", "the JobSpec (JSON) every submission uses");
ABSL_FLAG(int, submissions, 1000, "jobs to submit");
ABSL_FLAG(int, watchers, 50, "concurrent WatchJob streams (on the last submitted jobs)");
ABSL_FLAG(int, threads, 8, "concurrent submitting / cancelling clients");

namespace {

using Clock = std::chrono::steady_clock;
double Since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  std::string token;
  if (!absl::GetFlag(FLAGS_token_file).empty())
    std::getline(std::ifstream(absl::GetFlag(FLAGS_token_file)), token);
  ftl::v1::SubmitJobRequest submit;
  {
    std::ifstream in(absl::GetFlag(FLAGS_job_json));
    std::stringstream text;
    text << in.rdbuf();
    if (!in ||
        !google::protobuf::util::JsonStringToMessage(text.str(), submit.mutable_spec()).ok()) {
      std::cerr << "coordinator_flood: --job_json: cannot read a JobSpec\n";
      return 2;
    }
  }
  auto channel =
      grpc::CreateChannel(absl::GetFlag(FLAGS_coordinator), grpc::InsecureChannelCredentials());
  auto stub = ftl::v1::JobService::NewStub(channel);
  auto context_for = [&token](grpc::ClientContext* context) {
    if (!token.empty()) context->AddMetadata("authorization", "Bearer " + token);
  };
  const int n = absl::GetFlag(FLAGS_submissions), threads = absl::GetFlag(FLAGS_threads);
  bool dropped = false;

  // 1. Submissions from concurrent clients.
  std::vector<std::string> ids(n);
  std::atomic<int> next{0}, failed{0};
  std::mutex error_mutex;
  std::string first_error;
  auto start = Clock::now();
  {
    std::vector<std::thread> clients;
    for (int t = 0; t < threads; ++t) {
      clients.emplace_back([&] {
        for (int i = next++; i < n; i = next++) {
          grpc::ClientContext context;
          context_for(&context);
          ftl::v1::Job job;
          const grpc::Status status = stub->SubmitJob(&context, submit, &job);
          if (status.ok()) {
            ids[i] = job.id();
          } else {
            ++failed;
            std::lock_guard<std::mutex> lock(error_mutex);
            if (first_error.empty()) first_error = status.error_message();
          }
        }
      });
    }
    for (auto& c : clients) c.join();
  }
  std::cout << "submitted: " << n - failed << " of " << n << " in " << Since(start) << " s ("
            << (n - failed) / Since(start) << " per s)"
            << (first_error.empty() ? "" : "; first refusal: " + first_error) << "\n";
  dropped |= failed > 0;

  // 2. Watchers on the last W jobs; each counts events and remembers the last state it saw.
  const int w = std::min(absl::GetFlag(FLAGS_watchers), n);
  std::vector<ftl::v1::JobState> last_state(w, ftl::v1::JOB_STATE_UNSPECIFIED);
  std::vector<int> events(w, 0);
  std::atomic<int> opened{0};
  std::vector<std::unique_ptr<grpc::ClientContext>> watch_contexts;
  std::vector<std::thread> watchers;
  for (int k = 0; k < w; ++k) {
    watch_contexts.push_back(std::make_unique<grpc::ClientContext>());
    context_for(watch_contexts.back().get());
    watchers.emplace_back([&, k] {
      ftl::v1::WatchJobRequest request;
      request.set_id(ids[n - w + k]);
      auto reader = stub->WatchJob(watch_contexts[k].get(), request);
      ftl::v1::JobEvent event;
      bool first = true;
      while (reader->Read(&event)) {
        if (first) ++opened;
        first = false;
        ++events[k];
        last_state[k] = event.job().state();
      }
      reader->Finish();
    });
  }
  for (int waited = 0; opened < w && waited < 300; ++waited)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  std::cout << "watch streams open: " << opened << " of " << w << "\n";
  dropped |= opened < w;

  // 3. The listing holds every submitted job.
  std::set<std::string> listed;
  {
    ftl::v1::ListJobsRequest request;
    request.set_page_size(1000);
    do {
      grpc::ClientContext context;
      context_for(&context);
      ftl::v1::ListJobsResponse response;
      if (!stub->ListJobs(&context, request, &response).ok()) break;
      for (const auto& job : response.jobs()) listed.insert(job.id());
      request.set_page_token(response.next_page_token());
    } while (!request.page_token().empty());
  }
  int missing = 0;
  for (const std::string& id : ids) missing += !id.empty() && listed.count(id) == 0;
  std::cout << "listed: " << listed.size() << " jobs, " << missing << " submitted job(s) missing\n";
  dropped |= missing > 0;

  // 4. Cancel everything; every watcher must see its job end.
  start = Clock::now();
  next = 0;
  std::atomic<int> cancel_failed{0};
  {
    std::vector<std::thread> clients;
    for (int t = 0; t < threads; ++t) {
      clients.emplace_back([&] {
        for (int i = next++; i < n; i = next++) {
          if (ids[i].empty()) continue;
          grpc::ClientContext context;
          context_for(&context);
          ftl::v1::CancelJobRequest request;
          request.set_id(ids[i]);
          ftl::v1::Job job;
          if (!stub->CancelJob(&context, request, &job).ok()) ++cancel_failed;
        }
      });
    }
    for (auto& c : clients) c.join();
  }
  std::cout << "cancelled: " << n - cancel_failed << " in " << Since(start) << " s\n";
  const auto deadline = Clock::now() + std::chrono::seconds(60);
  for (int k = 0; k < w; ++k) {
    // A watcher that never ends would hang the join: cancel stragglers after the deadline.
    while (last_state[k] != ftl::v1::CANCELLED && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (last_state[k] != ftl::v1::CANCELLED) watch_contexts[k]->TryCancel();
    watchers[k].join();
  }
  int ended = 0;
  for (int k = 0; k < w; ++k) ended += last_state[k] == ftl::v1::CANCELLED;
  std::cout << "watchers that saw CANCELLED: " << ended << " of " << w << "\n";
  dropped |= ended < w || cancel_failed > 0;
  std::cout << (dropped ? "DROPPED: something was lost\n" : "nothing dropped\n");
  return dropped ? 1 : 0;
}
