// ftl_coordinator: the FTL job service. Users submit jobs over gRPC (the `ftl` CLI); the
// coordinator queues them, launches each job's workers, drives their phases, keeps every job in
// SQLite and exports Prometheus metrics.
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/util/log.h"
#include "common/util/status_macros.h"
#include "services/coordinator/grpc_services.h"
#include "services/coordinator/job_manager.h"
#include "services/coordinator/job_store.h"
#include "services/coordinator/launcher.h"
#include "services/coordinator/prometheus_metrics.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:50051",
          "gRPC address (loopback unless you say otherwise)");
ABSL_FLAG(std::string, metrics_listen, "127.0.0.1:9464",
          "Prometheus /metrics address; empty to disable");
ABSL_FLAG(
    std::string, advertise, "",
    "address launched workers dial (default: --listen, with 0.0.0.0 replaced by the host name)");
ABSL_FLAG(std::string, state_dir, "ftl-state", "job store (jobs.db), job folders and checkpoints");
ABSL_FLAG(std::vector<std::string>, data_root, {},
          "folder job data and outputs must lie under; repeat the flag or give a comma list. "
          "Required.");
ABSL_FLAG(std::string, auth_token_file, "",
          "file whose first line is the bearer token every call must carry; empty: no auth");
ABSL_FLAG(std::string, launcher, "local",
          "how workers start: local (mpirun on this machine), slurm (sbatch of --slurm_template) "
          "or external (workers started elsewhere, e.g. Kubernetes, attach by job id)");
ABSL_FLAG(std::string, slurm_template, "",
          "sbatch script for --launcher slurm (default: deploy/slurm/ftl_workers.sbatch of the "
          "source tree this binary was built from)");
ABSL_FLAG(std::vector<std::string>, sbatch_args, {},
          "extra sbatch arguments, comma-separated (e.g. --partition=gpu,--gpus-per-task=1)");
ABSL_FLAG(int, max_concurrent_jobs, 1, "jobs running at once");
ABSL_FLAG(double, heartbeat_timeout, 30,
          "seconds without a word from a job's rank 0 before it is lost");
ABSL_FLAG(double, attach_timeout, 300, "seconds from launch until the workers must attach");
ABSL_FLAG(std::string, worker_binary, "",
          "ftl_worker for the local launcher (default: next to this program, or ../worker/)");
ABSL_FLAG(std::string, mpirun, "mpirun", "mpirun for the local launcher");

namespace {

namespace fs = std::filesystem;

// absl keeps the last value of a repeated flag; --data_root may be given several times, so
// gather every occurrence before parsing.
std::vector<std::string> CollectRepeated(int argc, char** argv, const std::string& name) {
  std::vector<std::string> values;
  const std::string eq = "--" + name + "=";
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    std::string value;
    if (arg.rfind(eq, 0) == 0) {
      value = arg.substr(eq.size());
    } else if (arg == "--" + name && i + 1 < argc) {
      value = argv[i + 1];
    } else {
      continue;
    }
    for (absl::string_view part : absl::StrSplit(value, ',', absl::SkipEmpty()))
      values.emplace_back(part);
  }
  return values;
}

std::string DefaultWorkerBinary() {
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  for (const fs::path& candidate : {self.parent_path() / "ftl_worker",
                                    self.parent_path().parent_path() / "worker" / "ftl_worker"}) {
    if (fs::exists(candidate, ec)) return candidate.string();
  }
  return "ftl_worker";
}

// The bearer token: the first line of `path`, trimmed; "" when no file is given.
absl::StatusOr<std::string> ReadToken(const std::string& path) {
  if (path.empty()) return std::string();
  std::ifstream in(path);
  std::string token;
  std::getline(in, token);
  token = std::string(absl::StripAsciiWhitespace(token));
  if (token.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--auth_token_file: '", path, "' is missing or empty"));
  }
  return token;
}

absl::StatusOr<std::unique_ptr<ftl::Launcher>> LauncherFromFlags() {
  const std::string name = absl::GetFlag(FLAGS_launcher);
  std::string worker = absl::GetFlag(FLAGS_worker_binary);
  if (worker.empty()) worker = DefaultWorkerBinary();
  if (name == "local") return ftl::CreateLocalLauncher(absl::GetFlag(FLAGS_mpirun), worker);
  if (name == "slurm") {
    std::string sbatch_template = absl::GetFlag(FLAGS_slurm_template);
    if (sbatch_template.empty())
      sbatch_template = FTL_SOURCE_DIR "/deploy/slurm/ftl_workers.sbatch";
    if (!fs::exists(sbatch_template)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--slurm_template: '", sbatch_template, "' does not exist"));
    }
    return ftl::CreateSlurmLauncher(sbatch_template, worker, absl::GetFlag(FLAGS_sbatch_args));
  }
  if (name == "external") return ftl::CreateExternalLauncher();
  return absl::InvalidArgumentError(
      absl::StrCat("--launcher: must be local, slurm or external, got '", name, "'"));
}

// What launched workers dial: --advertise, or --listen with a wildcard host replaced by ours.
std::string AdvertisedAddress(const std::string& listen, const std::string& advertise) {
  if (!advertise.empty()) return advertise;
  if (listen.rfind("0.0.0.0:", 0) != 0 && listen.rfind("[::]:", 0) != 0) return listen;
  char host[256] = {0};
  gethostname(host, sizeof(host) - 1);
  return absl::StrCat(host, listen.substr(listen.rfind(':')));
}

// Everything main needs from the flags, checked; InvalidArgument is a usage error (exit 2).
struct CoordinatorSetup {
  ftl::JobManagerOptions manager;
  std::string token;
  std::string listen;
  std::string metrics_listen;
  std::unique_ptr<ftl::Launcher> launcher;
};

absl::StatusOr<CoordinatorSetup> SetupFromFlags(std::vector<std::string> data_roots) {
  if (data_roots.empty()) {
    return absl::InvalidArgumentError(
        "--data_root is required (the folders job data may come from)");
  }
  for (const std::string& root : data_roots) {
    if (!fs::is_directory(root))
      return absl::InvalidArgumentError(absl::StrCat("--data_root: '", root, "' is not a folder"));
  }
  CoordinatorSetup setup;
  const std::string token_file = absl::GetFlag(FLAGS_auth_token_file);
  FTL_ASSIGN_OR_RETURN(setup.token, ReadToken(token_file));
  const std::string state_dir = absl::GetFlag(FLAGS_state_dir);
  std::error_code ec;
  fs::create_directories(fs::path(state_dir) / "jobs", ec);
  if (ec)
    return absl::InvalidArgumentError(
        absl::StrCat("--state_dir: cannot create '", state_dir, "': ", ec.message()));
  FTL_ASSIGN_OR_RETURN(setup.launcher, LauncherFromFlags());
  setup.listen = absl::GetFlag(FLAGS_listen);
  setup.metrics_listen = absl::GetFlag(FLAGS_metrics_listen);
  ftl::JobManagerOptions& options = setup.manager;
  options.state_dir = state_dir;
  options.data_roots = std::move(data_roots);
  options.coordinator_address = AdvertisedAddress(setup.listen, absl::GetFlag(FLAGS_advertise));
  options.token_file = token_file.empty() ? "" : fs::absolute(token_file).string();
  options.max_concurrent_jobs = std::max(1, absl::GetFlag(FLAGS_max_concurrent_jobs));
  options.heartbeat_timeout_seconds = absl::GetFlag(FLAGS_heartbeat_timeout);
  options.attach_timeout_seconds = absl::GetFlag(FLAGS_attach_timeout);
  return setup;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "the FTL job service.\n"
      "  ftl_coordinator --data_root /data [--listen 127.0.0.1:50051] [--state_dir DIR]\n"
      "Jobs are submitted with `ftl submit job.json`; see docs/coordinator.md.");
  std::vector<std::string> data_roots = CollectRepeated(argc, argv, "data_root");
  absl::ParseCommandLine(argc, argv);
  absl::StatusOr<CoordinatorSetup> setup = SetupFromFlags(std::move(data_roots));
  if (!setup.ok()) {
    ftl::Log("error: ", setup.status().message());
    return 2;
  }
  const ftl::JobManagerOptions& options = setup->manager;
  absl::StatusOr<std::unique_ptr<ftl::JobStore>> store =
      ftl::OpenSqliteJobStore((fs::path(options.state_dir) / "jobs.db").string());
  if (!store.ok()) {
    ftl::Log("error: ", store.status().message());
    return 1;
  }
  std::unique_ptr<ftl::PrometheusMetrics> metrics;
  if (!setup->metrics_listen.empty()) {
    absl::StatusOr<std::unique_ptr<ftl::PrometheusMetrics>> served =
        ftl::PrometheusMetrics::Serve(setup->metrics_listen);
    if (!served.ok()) {
      ftl::Log("error: --metrics_listen: ", served.status().message());
      return 1;
    }
    metrics = std::move(*served);
  }
  ftl::NullMetricsSink no_metrics;
  ftl::JobManager manager(options, store->get(), setup->launcher.get(),
                          metrics ? static_cast<ftl::MetricsSink*>(metrics.get()) : &no_metrics);

  // SIGTERM / SIGINT: stop serving cleanly (jobs stay in the store and resume on the next start).
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  ftl::JobServiceImpl job_service(&manager, setup->token);
  ftl::WorkerServiceImpl worker_service(&manager, setup->token);
  grpc::ServerBuilder builder;
  int bound_port = 0;
  builder.AddListeningPort(setup->listen, grpc::InsecureServerCredentials(), &bound_port);
  builder.RegisterService(&job_service);
  builder.RegisterService(&worker_service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || bound_port == 0) {
    ftl::Log("error: --listen: cannot listen on ", setup->listen);
    return 1;
  }
  absl::Status started = manager.Start();
  if (!started.ok()) {
    ftl::Log("error: ", started.message());
    return 1;
  }
  ftl::Log("ftl_coordinator listening on ", setup->listen, " (workers dial ",
           options.coordinator_address, "), metrics on ",
           setup->metrics_listen.empty() ? "(off)" : setup->metrics_listen, ", state in ",
           options.state_dir, setup->token.empty() ? ", no auth" : ", bearer token required");
  std::thread waiter([&] {
    int signal = 0;
    sigwait(&signals, &signal);
    ftl::Log("signal ", signal, ": shutting down");
    manager.Stop();
    server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  });
  server->Wait();
  waiter.join();
  return 0;
}
