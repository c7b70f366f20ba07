// The thin gRPC layer: checks the bearer token, calls the JobManager, maps absl::Status to
// grpc::Status in one place.
#ifndef FTL_SERVICES_COORDINATOR_GRPC_SERVICES_H_
#define FTL_SERVICES_COORDINATOR_GRPC_SERVICES_H_

#include <grpcpp/grpcpp.h>

#include <string>

#include "ftl/v1/coordinator.grpc.pb.h"
#include "services/coordinator/job_manager.h"

namespace ftl {

grpc::Status ToGrpcStatus(const absl::Status& status);

// OK when `token` is empty or the call carries "authorization: Bearer <token>".
grpc::Status CheckBearerToken(const grpc::ServerContext& context, const std::string& token);

class JobServiceImpl final : public v1::JobService::Service {
 public:
  JobServiceImpl(JobManager* manager, std::string token)
      : manager_(manager), token_(std::move(token)) {}

  grpc::Status SubmitJob(grpc::ServerContext* context, const v1::SubmitJobRequest* request,
                         v1::Job* response) override;
  grpc::Status GetJob(grpc::ServerContext* context, const v1::GetJobRequest* request,
                      v1::Job* response) override;
  grpc::Status ListJobs(grpc::ServerContext* context, const v1::ListJobsRequest* request,
                        v1::ListJobsResponse* response) override;
  grpc::Status CancelJob(grpc::ServerContext* context, const v1::CancelJobRequest* request,
                         v1::Job* response) override;
  grpc::Status WatchJob(grpc::ServerContext* context, const v1::WatchJobRequest* request,
                        grpc::ServerWriter<v1::JobEvent>* writer) override;
  grpc::Status ReadJobLog(grpc::ServerContext* context, const v1::ReadJobLogRequest* request,
                          v1::JobLogChunk* response) override;

 private:
  JobManager* manager_;
  std::string token_;
};

// Workers prove themselves per job (JobManagerOptions::check_worker_credentials), not with the
// users' token.
class WorkerServiceImpl final : public v1::WorkerService::Service {
 public:
  explicit WorkerServiceImpl(JobManager* manager) : manager_(manager) {}

  grpc::Status Attach(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<v1::CoordinatorMessage, v1::WorkerMessage>* stream) override;

 private:
  JobManager* manager_;
};

}  // namespace ftl

#endif  // FTL_SERVICES_COORDINATOR_GRPC_SERVICES_H_
