// ftl_worker: one data-parallel rank of an FTL training job.
//
//   mpirun -np 2 ftl_worker --config configs/yaleb_demo.json
//
// Exit codes: 0 done, 1 the job failed while running, 2 bad flags or config.
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "common/comm/mpi_communicator.h"
#include "common/config/job_config.h"
#include "common/util/log.h"
#include "services/worker/worker_run.h"

ABSL_FLAG(std::string, config, "",
          "JSON job config (a ftl.v1.JobSpec; see docs/config.md and configs/). Required.");
ABSL_FLAG(std::string, resume, "",
          "continue from this checkpoint file, or from the newest readable checkpoint in this "
          "folder (e.g. the job's output folder)");
ABSL_FLAG(std::string, output, "", "output folder (overrides runtime.output_dir of the config)");
ABSL_FLAG(int, threads, 0,
          "intra-op threads per rank (overrides runtime.threads_per_rank; 0 = config, else cores "
          "on this node / ranks on this node)");

int main(int argc, char** argv) {
  std::unique_ptr<ftl::Communicator> comm = ftl::CreateMpiCommunicator(&argc, &argv);
  ftl::SetLogRank(comm->size() > 1 ? comm->rank() : -1);
  absl::SetProgramUsageMessage(
      "one rank of a Feature Transfer Learning training job.\n"
      "  ftl_worker --config job.json [--resume DIR|FILE] [--output DIR]\n"
      "  mpirun -np N ftl_worker --config job.json\n"
      "Runs pre-training, then rounds of UpdateStats / stage 1 / stage 2, with evaluation and\n"
      "checkpoints, writing checkpoints and summary.json to the output folder.\n"
      "Exit codes: 0 done, 1 the job failed, 2 bad flags or config.");
  absl::ParseCommandLine(argc, argv);

  const std::string config_path = absl::GetFlag(FLAGS_config);
  if (config_path.empty()) {
    ftl::Log("error: --config is required (see --help)");
    return 2;
  }
  absl::StatusOr<ftl::JobConfig> config = ftl::LoadJobConfigFile(config_path);
  if (!config.ok()) {
    ftl::Log("error: ", config.status().message());
    return 2;
  }
  if (!absl::GetFlag(FLAGS_output).empty()) config->runtime.output_dir = absl::GetFlag(FLAGS_output);
  int threads = absl::GetFlag(FLAGS_threads);
  if (threads <= 0) threads = config->runtime.threads_per_rank;
  if (threads <= 0) {
    threads = std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / comm->local_size());
  }
  torch::set_num_threads(threads);

  ftl::WorkerOptions options;
  options.resume = absl::GetFlag(FLAGS_resume);
  options.progress_seconds = config->runtime.progress_seconds;
  const absl::Status status = ftl::RunStandaloneJob(*config, options, *comm);
  if (!status.ok()) {
    ftl::Log("error: ", status.message());
    // Leave the other ranks no chance to hang in a collective.
    return status.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
  }
  return 0;
}
