#include "services/coordinator/grpc_services.h"

namespace ftl {
namespace {

// Constant-time comparison, so the token cannot be guessed byte by byte from timings.
bool SameSecret(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
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
  if (!SameSecret(std::string(it->second.data(), it->second.size()), "Bearer " + token)) {
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
  grpc::Status auth = CheckBearerToken(*context, token_);
  if (!auth.ok()) return auth;
  GrpcWorkerStream worker(context, stream);
  manager_->ServeWorker(worker);
  return grpc::Status::OK;
}

}  // namespace ftl
