// ftl_worker: one data-parallel rank of an FTL training job.
//
//   mpirun -np 2 ftl_worker --config configs/yaleb_demo.json
//
// Exit codes: 0 done, 1 the job failed while running, 2 bad flags or config (or a --resume of
// another run's checkpoint), 3 the coordinator was lost (rank 0's heartbeat failed), 4 a
// collective timed out (a peer rank stopped or hung).
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "common/blas/blas.h"
#include "common/comm/device_communicator.h"
#include "common/comm/mpi_communicator.h"
#include "common/comm/watchdog_communicator.h"
#include "common/config/job_spec_conversion.h"
#include "common/util/cpus.h"
#include "common/util/flag_help.h"
#include "common/util/log.h"
#include "services/worker/coordinator_client.h"
#include "services/worker/worker_run.h"

namespace {

// The worker credential in --token_file (else $FTL_TOKEN_FILE); "" when neither is set.
absl::StatusOr<std::string> ReadToken(std::string path) {
  const char* flag = "--token_file";
  if (path.empty() && std::getenv("FTL_TOKEN_FILE") != nullptr) {
    path = std::getenv("FTL_TOKEN_FILE");
    flag = "$FTL_TOKEN_FILE";
  }
  if (path.empty()) return std::string();
  return ftl::ReadSecretFile(flag, path);
}

}  // namespace

ABSL_FLAG(std::string, config, "",
          "JSON job config (a ftl.v1.JobSpec; see docs/config.md and configs/). Required unless "
          "--coordinator is given.");
ABSL_FLAG(
    std::string, coordinator, "",
    "host:port of ftl_coordinator: take the job and its phase orders from there (with --job)");
ABSL_FLAG(std::string, job, "", "the coordinator's job id (with --coordinator)");
ABSL_FLAG(std::string, token_file, "",
          "file holding this job's worker credential (the coordinator writes one per launch; "
          "default: $FTL_TOKEN_FILE, else none)");
ABSL_FLAG(std::string, tls_ca, "",
          "PEM CA that signs the coordinator's certificate: dial with TLS (default: $FTL_TLS_CA)");
ABSL_FLAG(std::string, tls_cert, "",
          "PEM client certificate for mutual TLS (default: $FTL_TLS_CERT)");
ABSL_FLAG(std::string, tls_key, "", "PEM key of --tls_cert (default: $FTL_TLS_KEY)");
ABSL_FLAG(std::string, tls_server_name, "",
          "name expected in the coordinator's certificate (default: $FTL_TLS_SERVER_NAME, else "
          "the host of --coordinator)");
ABSL_FLAG(std::string, resume, "",
          "continue from this checkpoint file, or from the newest readable checkpoint in this "
          "folder (e.g. the job's output folder) written by this same run: one trained with "
          "other settings is refused, naming them");
ABSL_FLAG(bool, resume_despite_changes, false,
          "--resume a checkpoint although it was trained with other settings (a deliberate "
          "change; the differences are logged)");
ABSL_FLAG(std::string, output, "", "output folder (overrides runtime.output_dir of the config)");
ABSL_FLAG(int, threads, 0,
          "intra-op threads per rank (overrides runtime.threads_per_rank; 0 = config, else the "
          "CPUs this process may use, affinity mask and cgroup quota, / ranks on this node)");

int main(int argc, char** argv) {
  // Before MPI starts: the process may execute itself again with better OpenBLAS kernels.
  ftl::ReexecForBetterOpenBlasCore(argv);
  std::unique_ptr<ftl::Communicator> comm = ftl::CreateMpiCommunicator(&argc, &argv);
  ftl::SetLogRank(comm->size() > 1 ? comm->rank() : -1);
  absl::SetProgramUsageMessage(
      "one rank of a Feature Transfer Learning training job.\n"
      "  ftl_worker --config job.json [--resume DIR|FILE] [--output DIR]\n"
      "  mpirun -np N ftl_worker --config job.json\n"
      "Runs pre-training, then rounds of UpdateStats / stage 1 / stage 2, with evaluation and\n"
      "checkpoints, writing checkpoints and summary.json to the output folder.\n"
      "Exit codes: 0 done, 1 the job failed, 2 bad flags or config, or a --resume of another\n"
      "run's checkpoint (not retried by the coordinator), 3 the coordinator was lost, 4 a "
      "collective timed out (a peer rank stopped\n"
      "or hung; runtime.collective_timeout_seconds).");
  if (ftl::HelpRequested(argc, argv)) {
    if (comm->rank() == 0) {
      std::cout << "ftl_worker: " << absl::ProgramUsageMessage() << "\n\nFlags:\n"
                << ftl::DescribeFlags(ftl::FlagsDefinedIn("services/worker/ftl_worker_main.cc"));
    }
    return 0;
  }
  absl::ParseCommandLine(argc, argv);

  const std::string config_path = absl::GetFlag(FLAGS_config);
  const std::string coordinator = absl::GetFlag(FLAGS_coordinator);
  if (config_path.empty() == coordinator.empty()) {
    ftl::Log("error: give either --config FILE or --coordinator ADDR --job ID (see --help)");
    return 2;
  }
  if (!coordinator.empty() && absl::GetFlag(FLAGS_job).empty()) {
    ftl::Log("error: --coordinator needs --job");
    return 2;
  }
  // With a coordinator, rank 0 receives the spec and passes it on to the other ranks.
  std::unique_ptr<ftl::CoordinatorSession> session;
  absl::StatusOr<ftl::JobConfig> config;
  if (coordinator.empty()) {
    config = ftl::LoadJobConfigFile(config_path);
  } else {
    std::string spec_bytes;
    if (comm->rank() == 0) {
      const ftl::ClientTls tls = ftl::ClientTlsWithEnvironment(
          {absl::GetFlag(FLAGS_tls_ca), absl::GetFlag(FLAGS_tls_cert), absl::GetFlag(FLAGS_tls_key),
           absl::GetFlag(FLAGS_tls_server_name)});
      const absl::StatusOr<std::string> token = ReadToken(absl::GetFlag(FLAGS_token_file));
      absl::StatusOr<std::unique_ptr<ftl::CoordinatorSession>> connected =
          token.ok() ? ftl::CoordinatorSession::Connect(coordinator, tls, *token,
                                                        absl::GetFlag(FLAGS_job), comm->size())
                     : absl::StatusOr<std::unique_ptr<ftl::CoordinatorSession>>(token.status());
      if (connected.ok()) {
        session = std::move(*connected);
        spec_bytes = session->welcome().spec().SerializeAsString();
      } else {
        ftl::Log("error: ", connected.status().message());
      }
    }
    comm->BroadcastBytes(spec_bytes, 0);
    if (spec_bytes.empty()) return 1;
    ftl::v1::JobSpec spec;
    spec.ParseFromString(spec_bytes);
    config = ftl::JobConfigFromSpec(spec);
  }
  if (!config.ok()) {
    ftl::Log("error: ", config.status().message());
    if (session) session->ReportFailure(std::string(config.status().message()), /*permanent=*/true);
    return 2;
  }
  if (!absl::GetFlag(FLAGS_output).empty())
    config->runtime.output_dir = absl::GetFlag(FLAGS_output);
  int threads = absl::GetFlag(FLAGS_threads);
  if (threads <= 0) threads = config->runtime.threads_per_rank;
  // By default the CPUs this process may use (affinity mask, cgroup quota), shared by the node's
  // ranks: not the host's cores, which a CPU-limited pod would be throttled for.
  const ftl::UsableCpus cpus = ftl::FindUsableCpus();
  if (threads <= 0) threads = ftl::DefaultThreadsPerRank(cpus, comm->local_size());
  torch::set_num_threads(threads);
  // OpenBLAS's pthread flavour does not follow set_num_threads (it reads OMP_NUM_THREADS only as
  // it loads) and would otherwise start one thread per core in every rank.
  ftl::SetBlasThreads(threads);
  if (comm->rank() == 0) {
    ftl::Log(ftl::BlasSummary(ftl::DescribeLoadedBlas()), "; ", threads,
             " intra-op thread(s) per rank; ", cpus.Describe(), ", ", comm->local_size(),
             " rank(s) on this node");
  }

  ftl::WorkerOptions options;
  absl::StatusOr<torch::Device> device =
      ftl::ResolveDevice(config->runtime.device, ftl::LocalRankFromEnvironment(comm->local_rank()));
  absl::StatusOr<std::unique_ptr<ftl::Communicator>> device_comm =
      device.ok() ? ftl::CommunicatorForDevice(std::move(comm), *device)
                  : absl::StatusOr<std::unique_ptr<ftl::Communicator>>(device.status());
  if (!device_comm.ok()) {
    ftl::Log("error: ", device_comm.status().message());
    if (session) {
      session->ReportFailure(std::string(device_comm.status().message()), /*permanent=*/true);
    }
    return 2;
  }
  // A collective that waits past runtime.collective_timeout_seconds ends this rank (exit code 4).
  comm = ftl::WithCollectiveWatchdog(std::move(*device_comm),
                                     config->runtime.collective_timeout_seconds);
  options.device = *device;
  options.resume = absl::GetFlag(FLAGS_resume);
  options.resume_despite_changes = absl::GetFlag(FLAGS_resume_despite_changes);
  options.progress_seconds = config->runtime.progress_seconds;
  absl::Status status;
  if (coordinator.empty()) {
    status = ftl::RunStandaloneJob(*config, options, *comm);
  } else {
    std::string resume = session ? session->welcome().resume_checkpoint() : "";
    comm->BroadcastBytes(resume, 0);
    options.resume = resume;
    status = ftl::RunJob(*config, options, session.get(), *comm);
  }
  if (!status.ok()) {
    ftl::Log("error: ", status.message());
    const int exit_code = status.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
    if (session)
      session->ReportFailure(std::string(status.message()), /*permanent=*/exit_code == 2);
    // The failure may be this rank's alone (a streamed image source lost here) while the others
    // wait in a collective: end them all rather than leave them hanging.
    if (comm->size() > 1) comm->Abort(exit_code);
    return exit_code;
  }
  return 0;
}
