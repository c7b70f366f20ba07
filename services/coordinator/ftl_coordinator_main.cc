// ftl_coordinator: the FTL job service. Users submit jobs over gRPC (the `ftl` CLI); the
// coordinator queues them, launches each job's workers, drives their phases, keeps every job in
// SQLite and exports Prometheus metrics.
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/impl/server_builder_option.h>
#include <grpcpp/impl/server_builder_plugin.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/util/flag_help.h"
#include "common/util/log.h"
#include "common/util/status_macros.h"
#include "services/coordinator/grpc_services.h"
#include "services/coordinator/job_manager.h"
#include "services/coordinator/job_store.h"
#include "services/coordinator/launcher.h"
#include "services/coordinator/prometheus_metrics.h"
#include "services/security/credentials.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:50051",
          "gRPC address (loopback unless you say otherwise; any other address needs --tls_cert "
          "or --allow_insecure)");
ABSL_FLAG(std::string, tls_cert, "", "PEM certificate (chain) to serve TLS with");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert");
ABSL_FLAG(std::string, tls_client_ca, "",
          "PEM CA bundle: require mutual TLS, with client certificates it signed");
ABSL_FLAG(bool, allow_insecure, false,
          "listen on a non-loopback address without TLS (tokens cross the network in clear; "
          "only behind a TLS-terminating proxy or on a network you trust)");
ABSL_FLAG(std::string, worker_tls_ca, "",
          "PEM CA launched workers verify this coordinator with (default with TLS: --tls_cert, "
          "right for a self-signed certificate)");
ABSL_FLAG(std::string, worker_tls_cert, "",
          "client certificate launched workers present (needed with --tls_client_ca)");
ABSL_FLAG(std::string, worker_tls_key, "", "private key of --worker_tls_cert");
ABSL_FLAG(std::string, worker_tls_server_name, "",
          "name launched workers expect in the certificate (default: the host they dial)");
ABSL_FLAG(std::string, worker_token_file, "",
          "file whose first line is the credential of workers started elsewhere (--launcher "
          "external, Kubernetes); workers this coordinator launches get their own per job");
ABSL_FLAG(bool, reflection, false,
          "serve gRPC reflection (for grpcurl); it answers without a token. Health checking "
          "(grpc.health.v1) is always on, for probes");
ABSL_FLAG(std::string, metrics_listen, "127.0.0.1:9464",
          "Prometheus /metrics address; empty to disable");
ABSL_FLAG(double, metrics_retention_seconds, 3600,
          "how long a finished job's series stay on /metrics (its last figures, workers 0) before "
          "they are removed");
ABSL_FLAG(
    std::string, advertise, "",
    "address launched workers dial (default: --listen, with 0.0.0.0 replaced by the host name)");
ABSL_FLAG(std::string, state_dir, "ftl-state", "job store (jobs.db), job folders and checkpoints");
ABSL_FLAG(bool, accept_store_without_wal, false,
          "start although the job store was not closed cleanly and its write-ahead log "
          "(jobs.db-wal) is missing, losing the changes that file held (the default refuses)");
ABSL_FLAG(bool, set_aside_job_folders_without_record, false,
          "start although STATE_DIR/jobs holds job folders with files but no record in the job "
          "store (a store restored from an older copy), or any job folder beside an empty store, "
          "moving them to STATE_DIR/jobs-without-record (the default refuses, naming them)");
ABSL_FLAG(std::string, store, "",
          "the SQLite job store (default: STATE_DIR/jobs.db). Keep it on a local disk or a "
          "ReadWriteOnce volume: SQLite's WAL is unsafe on network file systems");
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
ABSL_FLAG(double, stall_timeout, 1200,
          "seconds a job's workers may keep beating without progress (no training step, "
          "statistics or evaluation batch, image or collective finished) before the job is "
          "restarted from its last checkpoint; above runtime.collective_timeout_seconds; 0: never");
ABSL_FLAG(std::string, worker_binary, "",
          "ftl_worker for the local launcher (default: next to this program, or ../worker/)");
ABSL_FLAG(std::string, mpirun, "mpirun", "mpirun for the local launcher");
ABSL_FLAG(std::string, worker_user, "",
          "local launcher: start the workers as this unprivileged user (the coordinator must run "
          "as root; it hands each job's folder to that user): a job's code then cannot read the "
          "coordinator's store, keys or tokens (docs/operations.md, trust model)");

namespace {

namespace fs = std::filesystem;

// Linking grpc++_reflection registers its plugin with every ServerBuilder (a static
// initializer); this option takes it out again unless --reflection asked for it.
class WithoutReflection : public grpc::ServerBuilderOption {
 public:
  void UpdateArguments(grpc::ChannelArguments*) override {}
  void UpdatePlugins(std::vector<std::unique_ptr<grpc::ServerBuilderPlugin>>* plugins) override {
    plugins->erase(std::remove_if(plugins->begin(), plugins->end(),
                                  [](const auto& plugin) {
                                    return plugin->name() == "proto_server_reflection";
                                  }),
                   plugins->end());
  }
};

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

// The secret in `path` (its first line), or "" when no file is given.
absl::StatusOr<std::string> ReadOptionalSecret(absl::string_view flag, const std::string& path) {
  if (path.empty()) return std::string();
  return ftl::ReadSecretFile(flag, path);
}

std::string Absolute(const std::string& path) {
  return path.empty() ? path : fs::absolute(path).string();
}

absl::StatusOr<std::unique_ptr<ftl::Launcher>> LauncherFromFlags() {
  const std::string name = absl::GetFlag(FLAGS_launcher);
  std::string worker = absl::GetFlag(FLAGS_worker_binary);
  if (worker.empty()) worker = DefaultWorkerBinary();
  const std::string worker_user = absl::GetFlag(FLAGS_worker_user);
  if (!worker_user.empty() && name != "local") {
    return absl::InvalidArgumentError(absl::StrCat(
        "--worker_user: only the local launcher starts workers itself; with --launcher ", name,
        " they run as ",
        name == "slurm" ? "the user who submits (the coordinator's)" : "whoever starts them",
        " (Kubernetes: the pod's runAsUser)"));
  }
  if (name == "local") {
    std::optional<ftl::WorkerUser> user;
    if (!worker_user.empty()) {
      FTL_ASSIGN_OR_RETURN(user, ftl::LookUpWorkerUser(worker_user));
    }
    return ftl::CreateLocalLauncher(absl::GetFlag(FLAGS_mpirun), worker, std::move(user));
  }
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
  std::shared_ptr<grpc::ServerCredentials> credentials;
  bool reflection = false;
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
  FTL_ASSIGN_OR_RETURN(
      setup.token, ReadOptionalSecret("--auth_token_file", absl::GetFlag(FLAGS_auth_token_file)));
  ftl::JobManagerOptions& options = setup.manager;
  FTL_ASSIGN_OR_RETURN(
      options.external_worker_token,
      ReadOptionalSecret("--worker_token_file", absl::GetFlag(FLAGS_worker_token_file)));
  // Workers this coordinator launches always prove their launch; workers started elsewhere prove
  // --worker_token_file's secret, and only a coordinator without any token (a loopback
  // development setup with --launcher external) takes workers on their word.
  const bool external = absl::GetFlag(FLAGS_launcher) == "external";
  options.check_worker_credentials =
      !external || !setup.token.empty() || !options.external_worker_token.empty();
  if (external && !setup.token.empty() && options.external_worker_token.empty()) {
    return absl::InvalidArgumentError(
        "--launcher external with --auth_token_file needs --worker_token_file: workers started "
        "elsewhere attach with that credential (the users' token cannot attach workers)");
  }
  const ftl::ServerTls tls = {absl::GetFlag(FLAGS_tls_cert), absl::GetFlag(FLAGS_tls_key),
                              absl::GetFlag(FLAGS_tls_client_ca)};
  FTL_ASSIGN_OR_RETURN(setup.credentials, ftl::MakeServerCredentials(tls));
  setup.listen = absl::GetFlag(FLAGS_listen);
  if (tls.cert.empty() && !ftl::IsLoopbackAddress(setup.listen) &&
      !absl::GetFlag(FLAGS_allow_insecure)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--listen ", setup.listen,
        " is reachable from other machines but there is no TLS: bearer tokens and job data would "
        "cross the network in clear. Give --tls_cert and --tls_key (docs/operations.md, "
        "\"Security model\"), or --allow_insecure behind a TLS-terminating proxy"));
  }
  // Launched workers dial with TLS when this coordinator serves it (absolute: they run in their
  // job folder).
  options.worker_tls.ca = Absolute(
      absl::GetFlag(FLAGS_worker_tls_ca).empty() ? tls.cert : absl::GetFlag(FLAGS_worker_tls_ca));
  options.worker_tls.cert = Absolute(absl::GetFlag(FLAGS_worker_tls_cert));
  options.worker_tls.key = Absolute(absl::GetFlag(FLAGS_worker_tls_key));
  options.worker_tls.server_name = absl::GetFlag(FLAGS_worker_tls_server_name);
  if (!tls.client_ca.empty() && options.worker_tls.cert.empty() &&
      absl::GetFlag(FLAGS_launcher) != "external") {
    return absl::InvalidArgumentError(
        "--tls_client_ca requires client certificates, so launched workers need "
        "--worker_tls_cert and --worker_tls_key");
  }
  setup.reflection = absl::GetFlag(FLAGS_reflection);
  const std::string state_dir = absl::GetFlag(FLAGS_state_dir);
  std::error_code ec;
  fs::create_directories(fs::path(state_dir) / "jobs", ec);
  if (ec)
    return absl::InvalidArgumentError(
        absl::StrCat("--state_dir: cannot create '", state_dir, "': ", ec.message()));
  FTL_ASSIGN_OR_RETURN(setup.launcher, LauncherFromFlags());
  if (!absl::GetFlag(FLAGS_worker_user).empty()) {
    // Workers of another user must reach their job folders (STATE_DIR/jobs/ID), and nothing else
    // here: the folders are traversable, not listable.
    for (const fs::path& dir : {fs::path(state_dir), fs::path(state_dir) / "jobs"}) {
      fs::permissions(dir, fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec,
                      ec);
      if (ec) {
        return absl::InvalidArgumentError(absl::StrCat("--state_dir: cannot make '", dir.string(),
                                                       "' traversable: ", ec.message()));
      }
    }
  }
  setup.metrics_listen = absl::GetFlag(FLAGS_metrics_listen);
  options.state_dir = state_dir;
  options.set_aside_job_folders_without_record =
      absl::GetFlag(FLAGS_set_aside_job_folders_without_record);
  options.data_roots = std::move(data_roots);
  options.coordinator_address = AdvertisedAddress(setup.listen, absl::GetFlag(FLAGS_advertise));
  options.max_concurrent_jobs = std::max(1, absl::GetFlag(FLAGS_max_concurrent_jobs));
  options.heartbeat_timeout_seconds = absl::GetFlag(FLAGS_heartbeat_timeout);
  options.attach_timeout_seconds = absl::GetFlag(FLAGS_attach_timeout);
  options.stall_timeout_seconds = absl::GetFlag(FLAGS_stall_timeout);
  return setup;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "the FTL job service.\n"
      "  ftl_coordinator --data_root /data [--listen 127.0.0.1:50051] [--state_dir DIR]\n"
      "Jobs are submitted with `ftl submit job.json`; see docs/coordinator.md.");
  if (ftl::HelpRequested(argc, argv)) {
    std::cout << "ftl_coordinator: " << absl::ProgramUsageMessage() << "\n\nFlags:\n"
              << ftl::DescribeFlags(ftl::FlagsDefinedIn("services/coordinator/"));
    return 0;
  }
  std::vector<std::string> data_roots = CollectRepeated(argc, argv, "data_root");
  absl::ParseCommandLine(argc, argv);
  absl::StatusOr<CoordinatorSetup> setup = SetupFromFlags(std::move(data_roots));
  if (!setup.ok()) {
    ftl::Log("error: ", setup.status().message());
    return 2;
  }
  const ftl::JobManagerOptions& options = setup->manager;
  ftl::JobStoreOptions store_options;
  store_options.accept_missing_wal = absl::GetFlag(FLAGS_accept_store_without_wal);
  absl::StatusOr<std::unique_ptr<ftl::JobStore>> store = ftl::OpenSqliteJobStore(
      absl::GetFlag(FLAGS_store).empty() ? (fs::path(options.state_dir) / "jobs.db").string()
                                         : absl::GetFlag(FLAGS_store),
      store_options);
  if (!store.ok()) {
    ftl::Log("error: ", store.status().message());
    return 1;
  }
  if (absl::GetFlag(FLAGS_store).empty()) {
    // The store holds every job's spec: readable by the coordinator's user only (SQLite gives its
    // -wal and -shm files the same mode).
    std::error_code ec;
    fs::permissions(fs::path(options.state_dir) / "jobs.db",
                    fs::perms::owner_read | fs::perms::owner_write, ec);
  }
  std::unique_ptr<ftl::PrometheusMetrics> metrics;
  if (!setup->metrics_listen.empty()) {
    if (!(absl::GetFlag(FLAGS_metrics_retention_seconds) >= 0)) {
      ftl::Log("error: --metrics_retention_seconds: must be 0 or more");
      return 2;
    }
    absl::StatusOr<std::unique_ptr<ftl::PrometheusMetrics>> served = ftl::PrometheusMetrics::Serve(
        setup->metrics_listen, absl::Seconds(absl::GetFlag(FLAGS_metrics_retention_seconds)));
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
  if (setup->reflection) grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  ftl::JobServiceImpl job_service(&manager, setup->token);
  ftl::WorkerServiceImpl worker_service(&manager);
  grpc::ServerBuilder builder;
  if (!setup->reflection) builder.SetOption(std::make_unique<WithoutReflection>());
  int bound_port = 0;
  builder.AddListeningPort(setup->listen, setup->credentials, &bound_port);
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
           options.state_dir, setup->token.empty() ? ", no auth" : ", bearer token required",
           absl::GetFlag(FLAGS_tls_cert).empty()        ? ", plaintext"
           : absl::GetFlag(FLAGS_tls_client_ca).empty() ? ", TLS"
                                                        : ", mutual TLS");
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
