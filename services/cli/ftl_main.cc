// ftl: the command-line client of ftl_coordinator, and the local protocol tools.
//
//   ftl submit job.json        ftl status ID       ftl list [--state RUNNING]
//   ftl cancel ID              ftl watch ID        ftl manifest ID
//   ftl split | pairs | eval | experiment | pack | synth | export | embed | verify   (exec
//   ftl_tools; commands.h)
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <sstream>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "common/config/job_spec_conversion.h"
#include "common/util/file.h"
#include "common/util/flag_help.h"
#include "common/util/log.h"
#include "ftl/v1/coordinator.grpc.pb.h"
#include "google/protobuf/util/json_util.h"
#include "services/security/credentials.h"
#include "services/wire/spec_paths.h"
#include "services/wire/wire.h"

ABSL_FLAG(std::string, coordinator, "",
          "coordinator address (default: $FTL_COORDINATOR, else 127.0.0.1:50051)");
ABSL_FLAG(std::string, token_file, "", "bearer token file (default: $FTL_TOKEN_FILE, else none)");
ABSL_FLAG(std::string, tls_ca, "",
          "PEM CA that signs the coordinator's certificate: connect with TLS (default: "
          "$FTL_TLS_CA, else plaintext)");
ABSL_FLAG(std::string, tls_cert, "",
          "PEM client certificate for mutual TLS (default: $FTL_TLS_CERT)");
ABSL_FLAG(std::string, tls_key, "", "PEM key of --tls_cert (default: $FTL_TLS_KEY)");
ABSL_FLAG(std::string, tls_server_name, "",
          "name expected in the coordinator's certificate (default: $FTL_TLS_SERVER_NAME, else "
          "the host of --coordinator)");
ABSL_FLAG(bool, json, false, "machine-readable JSON output");
ABSL_FLAG(std::string, state, "", "list: only jobs in this state (QUEUED, RUNNING, ...)");
ABSL_FLAG(int, page_size, 50, "list: jobs per request");
ABSL_FLAG(std::string, request_id, "",
          "submit: idempotency key (default: a random one). The submission is retried for up to "
          "--submit_retry_seconds while the coordinator is unreachable; the key makes a retry "
          "return the job the first attempt created instead of a second one");
ABSL_FLAG(double, submit_retry_seconds, 30, "submit: how long to retry an unreachable coordinator");
ABSL_FLAG(bool, follow, false, "logs: keep printing the log as it grows until the job ends");
ABSL_FLAG(int64_t, tail_bytes, 0, "logs: start this many bytes before the end (0: the beginning)");
ABSL_FLAG(std::string, mpijob_template, FTL_MPIJOB_TEMPLATE,
          "manifest: the MPIJob template (deploy/k8s/workers-mpijob.yaml; in the image "
          "/opt/ftl/share/workers-mpijob.yaml)");

namespace {

using ftl::v1::Job;

// 128 random bits as hex: a submission's idempotency key.
std::string RandomRequestId() {
  std::random_device random;
  return absl::StrFormat("%08x%08x%08x%08x", random(), random(), random(), random());
}

std::string Env(const char* name, const std::string& fallback) {
  const char* value = std::getenv(name);
  return value && *value ? value : fallback;
}

const char* CodeName(grpc::StatusCode code) {
  static const char* const kNames[] = {"OK",
                                       "CANCELLED",
                                       "UNKNOWN",
                                       "INVALID_ARGUMENT",
                                       "DEADLINE_EXCEEDED",
                                       "NOT_FOUND",
                                       "ALREADY_EXISTS",
                                       "PERMISSION_DENIED",
                                       "RESOURCE_EXHAUSTED",
                                       "FAILED_PRECONDITION",
                                       "ABORTED",
                                       "OUT_OF_RANGE",
                                       "UNIMPLEMENTED",
                                       "INTERNAL",
                                       "UNAVAILABLE",
                                       "DATA_LOSS",
                                       "UNAUTHENTICATED"};
  const int i = static_cast<int>(code);
  return i >= 0 && i <= 16 ? kNames[i] : "UNKNOWN";
}

bool IsLocalTool(const std::string& command) {
  return command == "split" || command == "pairs" || command == "eval" || command == "experiment" ||
         command == "pack" || command == "synth" || command == "export" || command == "embed" ||
         command == "verify";
}

int Fail(const std::string& message, int code = 1) {
  std::cerr << "ftl: error: " << ftl::PrintableText(message) << "\n";
  return code;
}

bool g_tls = false;  // whether this run dials with TLS (for the hint below)

int FailRpc(const grpc::Status& status) {
  std::string hint;
  // gRPC reports a TLS mismatch as a bare "failed to connect"; say what to check.
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE) {
    hint = g_tls ? " (with TLS: is the coordinator serving TLS, signed by --tls_ca, for this host "
                   "name? does it require a client certificate, --tls_cert/--tls_key?)"
                 : " (is the coordinator running there? if it serves TLS, give --tls_ca or "
                   "$FTL_TLS_CA)";
  }
  return Fail(absl::StrCat(CodeName(status.error_code()), ": ", status.error_message(), hint));
}

class Client {
 public:
  // The address, TLS files and token from flags and environment; InvalidArgument for a token or
  // TLS file that cannot be read (never a silent call without them).
  static absl::StatusOr<Client> FromFlags() {
    const std::string address = absl::GetFlag(FLAGS_coordinator).empty()
                                    ? Env("FTL_COORDINATOR", "127.0.0.1:50051")
                                    : absl::GetFlag(FLAGS_coordinator);
    const ftl::ClientTls tls = ftl::ClientTlsWithEnvironment(
        {absl::GetFlag(FLAGS_tls_ca), absl::GetFlag(FLAGS_tls_cert), absl::GetFlag(FLAGS_tls_key),
         absl::GetFlag(FLAGS_tls_server_name)});
    g_tls = !tls.ca.empty();
    absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = ftl::DialCoordinator(address, tls);
    if (!channel.ok()) return channel.status();
    Client client;
    client.stub_ = ftl::v1::JobService::NewStub(*channel);
    std::string path = absl::GetFlag(FLAGS_token_file);
    if (path.empty()) path = Env("FTL_TOKEN_FILE", "");
    if (!path.empty()) {
      absl::StatusOr<std::string> token = ftl::ReadSecretFile(
          absl::GetFlag(FLAGS_token_file).empty() ? "$FTL_TOKEN_FILE" : "--token_file", path);
      if (!token.ok()) return token.status();
      client.token_ = *token;
    }
    return client;
  }
  std::unique_ptr<grpc::ClientContext> Context(bool deadline = true) const {
    auto context = std::make_unique<grpc::ClientContext>();
    if (!token_.empty()) context->AddMetadata("authorization", "Bearer " + token_);
    if (deadline)
      context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    return context;
  }
  ftl::v1::JobService::Stub& stub() { return *stub_; }

 private:
  std::unique_ptr<ftl::v1::JobService::Stub> stub_;
  std::string token_;
};

void PrintJob(const Job& job) {
  // Text a submitter or a worker chose is escaped (ftl::PrintableText): it cannot forge lines.
  std::cout << job.id() << "  " << ftl::v1::JobState_Name(job.state()) << "  "
            << ftl::PrintableText(job.spec().name())
            << absl::StrFormat("  phase %d/%d", job.position(), job.num_phases())
            << (job.phase().empty() ? "" : " (" + ftl::PrintableText(job.phase()) + ")")
            << absl::StrFormat("  %.0f%%", 100 * job.progress());
  if (job.restarts() > 0) std::cout << "  restarts " << job.restarts();
  std::cout << "\n";
  if (!job.message().empty()) std::cout << "  " << ftl::PrintableText(job.message()) << "\n";
  if (!job.checkpoint().empty())
    std::cout << "  checkpoint: " << ftl::PrintableText(job.checkpoint()) << "\n";
}

int Submit(Client& client, const std::string& path) {
  const absl::StatusOr<std::string> text = ftl::ReadFileToString(path);
  if (!text.ok()) return Fail(absl::StrCat("cannot open '", path, "'"), 2);
  absl::StatusOr<ftl::v1::JobSpec> spec = ftl::JobSpecFromJson(*text);
  if (!spec.ok()) return Fail(absl::StrCat(path, ": ", spec.status().message()), 2);
  // Relative input paths mean what they mean to `ftl_worker --config` run here.
  std::error_code ec;
  ftl::ResolveInputPaths(std::filesystem::current_path(ec).string(), &*spec);
  ftl::v1::SubmitJobRequest request;
  *request.mutable_spec() = *spec;
  request.set_request_id(absl::GetFlag(FLAGS_request_id).empty() ? RandomRequestId()
                                                                 : absl::GetFlag(FLAGS_request_id));
  Job job;
  // Retried with the same key while the coordinator cannot be reached (restarting, or it crashed
  // after storing the job but before replying): at most one job is created.
  const auto give_up = std::chrono::steady_clock::now() +
                       std::chrono::duration<double>(absl::GetFlag(FLAGS_submit_retry_seconds));
  grpc::Status status;
  for (int attempt = 0;; ++attempt) {
    status = client.stub().SubmitJob(client.Context().get(), request, &job);
    if (status.error_code() != grpc::StatusCode::UNAVAILABLE ||
        std::chrono::steady_clock::now() >= give_up) {
      break;
    }
    std::this_thread::sleep_for(
        std::chrono::milliseconds(std::min(2000, 200 << std::min(attempt, 4))));
  }
  if (!status.ok()) return FailRpc(status);
  if (absl::GetFlag(FLAGS_json)) {
    std::cout << "{\"id\": \"" << job.id() << "\"}\n";
  } else {
    std::cout << job.id() << "\n";
  }
  return 0;
}

// Prints the job a GetJob / CancelJob call returned, or the call's error.
int PrintJobReply(const grpc::Status& status, const Job& job) {
  if (!status.ok()) return FailRpc(status);
  if (absl::GetFlag(FLAGS_json)) {
    std::cout << ftl::ToJson(job, ftl::JsonLayout::kOneLine, ftl::JsonDefaults::kPrint) << "\n";
  } else {
    PrintJob(job);
  }
  return 0;
}

int Status(Client& client, const std::string& id) {
  ftl::v1::GetJobRequest request;
  request.set_id(id);
  Job job;
  return PrintJobReply(client.stub().GetJob(client.Context().get(), request, &job), job);
}

int List(Client& client) {
  ftl::v1::ListJobsRequest request;
  const std::string state = absl::GetFlag(FLAGS_state);
  if (!state.empty()) {
    ftl::v1::JobState value;
    if (!ftl::v1::JobState_Parse(state, &value))
      return Fail(absl::StrCat("--state: unknown state '", state, "'"), 2);
    request.set_state(value);
  }
  request.set_page_size(absl::GetFlag(FLAGS_page_size));
  ftl::v1::ListJobsResponse all;
  for (;;) {
    ftl::v1::ListJobsResponse page;
    const grpc::Status status = client.stub().ListJobs(client.Context().get(), request, &page);
    if (!status.ok()) return FailRpc(status);
    for (const Job& job : page.jobs()) *all.add_jobs() = job;
    if (page.next_page_token().empty()) break;
    request.set_page_token(page.next_page_token());
  }
  if (absl::GetFlag(FLAGS_json)) {
    std::cout << ftl::ToJson(all, ftl::JsonLayout::kOneLine, ftl::JsonDefaults::kPrint) << "\n";
  } else {
    for (const Job& job : all.jobs()) PrintJob(job);
  }
  return 0;
}

int Cancel(Client& client, const std::string& id) {
  ftl::v1::CancelJobRequest request;
  request.set_id(id);
  Job job;
  return PrintJobReply(client.stub().CancelJob(client.Context().get(), request, &job), job);
}

// The Kubeflow MPIJob that runs job `id`'s workers (--launcher external): the template with the
// job id, a name of its own, and worker pods for the job's runtime.ranks, ready for kubectl apply.
int Manifest(Client& client, const std::string& id) {
  ftl::v1::GetJobRequest request;
  request.set_id(id);
  Job job;
  const grpc::Status status = client.stub().GetJob(client.Context().get(), request, &job);
  if (!status.ok()) return FailRpc(status);
  const std::string path = absl::GetFlag(FLAGS_mpijob_template);
  absl::StatusOr<std::string> text = ftl::ReadFileToString(path);
  if (!text.ok()) return Fail(absl::StrCat("--mpijob_template: cannot read '", path, "'"), 2);
  std::string yaml = *text;
  auto replace_once = [&yaml](const std::string& from, const std::string& to) {
    const size_t at = yaml.find(from);
    if (at == std::string::npos || yaml.find(from, at + 1) != std::string::npos) return false;
    yaml.replace(at, from.size(), to);
    return true;
  };
  // A Kubernetes name: lower case, digits and '-', at most 63 characters.
  std::string name = "ftl-workers-" + id;
  for (char& c : name) c = std::isalnum(static_cast<unsigned char>(c)) ? std::tolower(c) : '-';
  name = name.substr(0, 63);
  while (!name.empty() && name.back() == '-') name.pop_back();
  int slots = 0;
  const size_t slots_at = yaml.find("slotsPerWorker: ");
  if (slots_at != std::string::npos) slots = std::atoi(yaml.c_str() + slots_at + 16);
  const int ranks = std::max(1, job.spec().runtime().ranks());
  if (slots <= 0) return Fail(absl::StrCat(path, ": no slotsPerWorker"), 2);
  // Ranks fill worker pods of `slots` GPUs; fewer ranks than one pod's slots use one pod.
  const int per_pod = std::min(slots, ranks);
  const int pods = (ranks + per_pod - 1) / per_pod;
  if (ranks % per_pod != 0) {
    return Fail(
        absl::StrCat("job ", id, " has ", ranks, " ranks, not a multiple of the template's ", slots,
                     " slots per worker pod; edit slotsPerWorker"),
        2);
  }
  const bool ok = replace_once("job-REPLACE-WITH-THE-ID-FROM-ftl-submit", id) &&
                  replace_once("  name: ftl-workers\n", "  name: " + name + "\n") &&
                  replace_once(absl::StrCat("slotsPerWorker: ", slots),
                               absl::StrCat("slotsPerWorker: ", per_pod)) &&
                  replace_once("    Worker:\n      replicas: 2\n",
                               absl::StrCat("    Worker:\n      replicas: ", pods, "\n"));
  if (!ok) {
    return Fail(absl::StrCat(path,
                             ": not the MPIJob template this version fills in (the job id "
                             "placeholder, name, slotsPerWorker or Worker replicas changed)"),
                2);
  }
  std::cout << "# " << name << ": job " << id << ", " << ranks << " rank(s) on " << pods
            << " worker pod(s) of " << per_pod << " GPU(s). kubectl apply -f this file.\n"
            << yaml;
  return 0;
}

// ftl logs: the job's worker log, read in bounded pieces (ReadJobLog); with --follow until the job
// has ended and its log is read to the end. Lines are printed escaped (PrintableText).
int Logs(Client& client, const std::string& id) {
  ftl::v1::ReadJobLogRequest request;
  request.set_id(id);
  request.set_offset(absl::GetFlag(FLAGS_tail_bytes) > 0 ? -absl::GetFlag(FLAGS_tail_bytes) : 0);
  std::string partial;        // a line not ended yet
  bool ended_at_end = false;  // the job had ended and the log was read to its end once
  auto print_lines = [&partial](const std::string& data) {
    partial += data;
    size_t start = 0;
    for (size_t end; (end = partial.find('\n', start)) != std::string::npos; start = end + 1)
      std::cout << ftl::PrintableText(partial.substr(start, end - start)) << "\n";
    partial.erase(0, start);
    std::cout << std::flush;
  };
  for (;;) {
    ftl::v1::JobLogChunk chunk;
    auto context = client.Context();
    const grpc::Status status = client.stub().ReadJobLog(context.get(), request, &chunk);
    if (!status.ok()) return FailRpc(status);
    print_lines(chunk.data());
    request.set_offset(chunk.next_offset());
    if (chunk.next_offset() < chunk.size()) continue;  // more is there already
    if (!absl::GetFlag(FLAGS_follow)) break;
    // A job that has just ended may still have its last lines on the way (mpirun flushing): one
    // more read a second later before stopping.
    if (chunk.job_ended() && ended_at_end) break;
    ended_at_end = chunk.job_ended();
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  if (!partial.empty()) std::cout << ftl::PrintableText(partial) << "\n";
  return 0;
}

// A live progress bar on a terminal; plain lines (at most one progress line per 5 s) otherwise.
int Watch(Client& client, const std::string& id) {
  const bool tty = isatty(STDOUT_FILENO) && !absl::GetFlag(FLAGS_json);
  ftl::v1::WatchJobRequest request;
  request.set_id(id);
  auto context = client.Context(/*deadline=*/false);
  auto reader = client.stub().WatchJob(context.get(), request);
  ftl::v1::JobEvent event;
  Job last;
  const auto start = std::chrono::steady_clock::now();
  double start_progress = -1;
  auto last_line = start - std::chrono::seconds(10);
  bool bar_open = false;
  auto end_bar = [&] {
    if (bar_open) std::cout << "\n";
    bar_open = false;
  };
  while (reader->Read(&event)) {
    last = event.job();
    if (absl::GetFlag(FLAGS_json)) {
      std::cout << ftl::ToJson(event, ftl::JsonLayout::kOneLine, ftl::JsonDefaults::kPrint) << "\n"
                << std::flush;
      continue;
    }
    switch (event.event_case()) {
      case ftl::v1::JobEvent::kStateChanged:
        end_bar();
        std::cout << id << ": " << ftl::v1::JobState_Name(event.state_changed())
                  << (last.message().empty() ? "" : " (" + ftl::PrintableText(last.message()) + ")")
                  << "\n";
        break;
      case ftl::v1::JobEvent::kPhaseStarted:
        if (!tty)
          std::cout << "phase " << last.position() << "/" << last.num_phases() << ": "
                    << event.phase_started() << "\n";
        break;
      case ftl::v1::JobEvent::kPhaseFinished: {
        end_bar();
        const auto& r = event.phase_finished();
        std::string line =
            absl::StrFormat("done %s%s in %.1f s", r.phase(),
                            r.round() >= 0 ? absl::StrCat(" r", r.round()) : "", r.seconds());
        // By name: a protobuf map's order changes from message to message.
        for (const auto& [k, v] :
             std::map<std::string, double>(r.losses().begin(), r.losses().end()))
          absl::StrAppend(&line, absl::StrFormat(" %s=%.4f", ftl::PrintableText(k), v));
        std::cout << line << "\n";
        break;
      }
      case ftl::v1::JobEvent::kProgress: {
        const auto& p = event.progress();
        const auto now = std::chrono::steady_clock::now();
        const double elapsed = std::chrono::duration<double>(now - start).count();
        if (start_progress < 0) start_progress = last.progress();
        const double rate = (last.progress() - start_progress) / std::max(elapsed, 1e-9);
        const std::string eta = rate > 0 ? ftl::FormatDuration((1 - last.progress()) / rate) : "?";
        std::string losses;
        for (const auto& [k, v] :
             std::map<std::string, double>(p.losses().begin(), p.losses().end()))
          absl::StrAppend(&losses, absl::StrFormat(" %s=%.3f", ftl::PrintableText(k), v));
        const std::string text =
            absl::StrFormat("%s%s %d/%d%s | %.0f img/s | ETA %s", p.phase(),
                            p.round() >= 0 ? absl::StrCat(" r", p.round()) : "", p.iteration(),
                            p.iterations(), losses, p.images_per_second(), eta);
        if (tty) {
          const int width = 24;
          const int filled = static_cast<int>(last.progress() * width + 0.5);
          std::cout << "\r\033[K[" << std::string(filled, '#') << std::string(width - filled, '.')
                    << absl::StrFormat("] %3.0f%% ", 100 * last.progress()) << text << std::flush;
          bar_open = true;
        } else if (now - last_line >= std::chrono::seconds(5)) {
          last_line = now;
          std::cout << absl::StrFormat("%3.0f%% ", 100 * last.progress()) << text << "\n"
                    << std::flush;
        }
        break;
      }
      default:
        break;
    }
  }
  end_bar();
  const grpc::Status status = reader->Finish();
  if (!status.ok()) return FailRpc(status);
  return last.state() == ftl::v1::SUCCEEDED ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  // The local tools need LibTorch; the client must start fast and stay small, so they live in
  // ftl_tools next to this binary.
  if (argc >= 2 && IsLocalTool(argv[1])) {
    std::error_code ec;
    const std::string tools =
        (std::filesystem::read_symlink("/proc/self/exe", ec).parent_path() / "ftl_tools").string();
    execv(tools.c_str(), argv);
    return Fail(absl::StrCat("cannot run ", tools, ": ", std::strerror(errno)));
  }
  absl::SetProgramUsageMessage(
      "client of ftl_coordinator.\n"
      "  ftl submit JOB.json     submit a job (a ftl.v1.JobSpec in JSON); prints its id\n"
      "  ftl status ID           one job\n"
      "  ftl list [--state S]    all jobs (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED)\n"
      "  ftl cancel ID           cancel a queued or running job\n"
      "  ftl watch ID            follow a job until it ends (exit 0 iff it SUCCEEDED)\n"
      "  ftl logs ID [--follow]  its worker log (every rank's output; --tail_bytes N: the end)\n"
      "  ftl manifest ID         the Kubeflow MPIJob for its workers (--launcher external)\n"
      "Flags: --coordinator HOST:PORT, --token_file FILE, --json. Exit codes: 0 ok, 1 error\n"
      "(the server's, printed as one line), 2 bad usage.\n"
      "Local tools (no coordinator; run by ftl_tools beside ftl, `ftl COMMAND --help` for flags):\n"
      "  split, pairs, eval, experiment, pack, synth, export, embed, verify -- see `ftl split "
      "--help`.");
  if (ftl::HelpRequested(argc, argv)) {
    std::cout << "ftl: " << absl::ProgramUsageMessage() << "\n\nFlags of the client commands:\n"
              << ftl::DescribeFlags(ftl::FlagsDefinedIn("services/cli/ftl_main.cc"));
    return 0;
  }
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  if (args.size() < 2) return Fail("missing command (see ftl --help)", 2);
  const std::string command = args[1];
  if (IsLocalTool(command))
    return Fail(absl::StrCat("put '", command, "' first: ftl ", command, " --flags"), 2);
  const bool needs_arg = command != "list";
  if (needs_arg && args.size() != 3) return Fail(absl::StrCat("usage: ftl ", command, " ARG"), 2);
  absl::StatusOr<Client> connected = Client::FromFlags();
  if (!connected.ok()) return Fail(std::string(connected.status().message()), 2);
  Client& client = *connected;
  if (command == "submit") return Submit(client, args[2]);
  if (command == "status") return Status(client, args[2]);
  if (command == "list") return List(client);
  if (command == "cancel") return Cancel(client, args[2]);
  if (command == "manifest") return Manifest(client, args[2]);
  if (command == "watch") return Watch(client, args[2]);
  if (command == "logs") return Logs(client, args[2]);
  return Fail(absl::StrCat("unknown command '", command, "' (see ftl --help)"), 2);
}
