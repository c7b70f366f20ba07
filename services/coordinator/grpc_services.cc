#include "services/coordinator/grpc_services.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "services/security/credentials.h"

namespace ftl {
namespace {

constexpr absl::string_view kBearer = "Bearer ";

// The credential after "authorization: Bearer ", or "".
std::string PresentedBearer(const grpc::ServerContext& context) {
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end()) return "";
  const absl::string_view value(it->second.data(), it->second.size());
  return absl::StartsWith(value, kBearer) ? std::string(value.substr(kBearer.size())) : "";
}

template <typename T>
grpc::Status Reply(const absl::StatusOr<T>& result, T* response) {
  if (!result.ok()) return ToGrpcStatus(result.status());
  *response = *result;
  return grpc::Status::OK;
}

class GrpcWorkerStream : public WorkerStream {
 public:
  GrpcWorkerStream(grpc::ServerContext* context,
                   grpc::ServerReaderWriter<v1::CoordinatorMessage, v1::WorkerMessage>* stream)
      : context_(context), stream_(stream) {}
  bool Read(v1::WorkerMessage* message) override { return stream_->Read(message); }
  bool Write(const v1::CoordinatorMessage& message) override { return stream_->Write(message); }
  void Cancel() override { context_->TryCancel(); }
  std::string Credential() const override { return PresentedBearer(*context_); }

 private:
  grpc::ServerContext* context_;
  grpc::ServerReaderWriter<v1::CoordinatorMessage, v1::WorkerMessage>* stream_;
};

}  // namespace

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

grpc::Status CheckBearerToken(const grpc::ServerContext& context, const std::string& token) {
  if (token.empty()) return grpc::Status::OK;
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end()) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        "missing 'authorization: Bearer <token>'");
  }
  if (!SameSecret(absl::string_view(it->second.data(), it->second.size()),
                  absl::StrCat(kBearer, token))) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "wrong token");
  }
  return grpc::Status::OK;
}

grpc::Status JobServiceImpl::SubmitJob(grpc::ServerContext* context,
                                       const v1::SubmitJobRequest* request, v1::Job* response) {
  grpc::Status auth = CheckBearerToken(*context, token_);
  if (!auth.ok()) return auth;
  return Reply(manager_->Submit(request->spec(), request->request_id()), response);
}

grpc::Status JobServiceImpl::GetJob(grpc::ServerContext* context, const v1::GetJobRequest* request,
                                    v1::Job* response) {
  grpc::Status auth = CheckBearerToken(*context, token_);
  if (!auth.ok()) return auth;
  return Reply(manager_->Get(request->id()), response);
}

grpc::Status JobServiceImpl::ListJobs(grpc::ServerContext* context,
                                      const v1::ListJobsRequest* request,
                                      v1::ListJobsResponse* response) {
  grpc::Status auth = CheckBearerToken(*context, token_);
  if (!auth.ok()) return auth;
  return Reply(manager_->List(*request), response);
}

grpc::Status JobServiceImpl::CancelJob(grpc::ServerContext* context,
                                       const v1::CancelJobRequest* request, v1::Job* response) {
  grpc::Status auth = CheckBearerToken(*context, token_);
  if (!auth.ok()) return auth;
  return Reply(manager_->Cancel(request->id()), response);
}

grpc::Status JobServiceImpl::ReadJobLog(grpc::ServerContext* context,
                                        const v1::ReadJobLogRequest* request,
                                        v1::JobLogChunk* response) {
  grpc::Status auth = CheckBearerToken(*context, token_);
  if (!auth.ok()) return auth;
  return Reply(manager_->ReadLog(*request), response);
}

grpc::Status JobServiceImpl::WatchJob(grpc::ServerContext* context,
                                      const v1::WatchJobRequest* request,
                                      grpc::ServerWriter<v1::JobEvent>* writer) {
  grpc::Status auth = CheckBearerToken(*context, token_);
  if (!auth.ok()) return auth;
  absl::StatusOr<std::shared_ptr<JobSubscription>> subscription = manager_->Watch(request->id());
  if (!subscription.ok()) return ToGrpcStatus(subscription.status());
  while (!context->IsCancelled()) {
    std::optional<v1::JobEvent> event = (*subscription)->Next(500);
    if (event) {
      if (!writer->Write(*event)) break;
    } else if ((*subscription)->closed()) {
      break;
    }
  }
  return grpc::Status::OK;
}

grpc::Status WorkerServiceImpl::Attach(
    grpc::ServerContext* context,
    grpc::ServerReaderWriter<v1::CoordinatorMessage, v1::WorkerMessage>* stream) {
  // The credential is checked against the job the worker names in its hello (JobManager).
  GrpcWorkerStream worker(context, stream);
  manager_->ServeWorker(worker);
  return grpc::Status::OK;
}

}  // namespace ftl
