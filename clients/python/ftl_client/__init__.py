"""Python client of the FTL coordinator: JobService over gRPC, as the `ftl` CLI uses it.

    from ftl_client import Client
    client = Client("127.0.0.1:50051", token_file="token.txt")
    job_id = client.submit("configs/yaleb_demo.json")        # or a JobSpec as a dict
    state = client.watch(job_id, lambda event: print(event))  # "SUCCEEDED", "FAILED", ...
    for text in client.logs(job_id):
        print(text, end="")

Address, token and TLS files default to the CLI's environment variables (FTL_COORDINATOR,
FTL_TOKEN_FILE, FTL_TLS_CA, FTL_TLS_CERT, FTL_TLS_KEY, FTL_TLS_SERVER_NAME); as with the CLI, a
client certificate without a CA is refused rather than sent over plaintext. Relative input paths of a spec (data,
evaluation, init checkpoints) are made absolute against the current folder, as `ftl submit` does.
Errors from the coordinator are raised as FtlError with the gRPC status code's name.
"""

from __future__ import annotations

import codecs
import json
import os
import time
import uuid
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Union

import grpc
from google.protobuf import json_format

from ftl.v1 import coordinator_pb2, coordinator_pb2_grpc, job_spec_pb2

__all__ = ["Client", "FtlError", "TERMINAL_STATES"]

TERMINAL_STATES = ("SUCCEEDED", "FAILED", "CANCELLED")

# The input path fields of a JobSpec (services/wire/spec_paths.cc): (message, field).
_INPUT_PATHS = (
    ("data", "path"),
    ("data", "labels_path"),
    ("data", "yaw_csv"),
    ("data", "manifest"),
    ("data", "regular_identities"),
    ("evaluation", "pairs_path"),
    ("evaluation", "pairs_images"),
    ("evaluation", "holdout_path"),
    ("evaluation", "holdout_manifest"),
    ("model", "init_from"),
    ("training", "init_checkpoint"),
)


class FtlError(Exception):
    """A call the coordinator refused or could not answer."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def _read(path: Optional[str]) -> Optional[bytes]:
    if not path:
        return None
    with open(path, "rb") as f:
        return f.read()


def _as_dict(message) -> Dict[str, Any]:
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


def _resolve_input_paths(spec: job_spec_pb2.JobSpec, base_dir: str) -> None:
    def resolve(value: str) -> str:
        return value if os.path.isabs(value) else os.path.normpath(os.path.join(base_dir, value))

    for message_name, field in _INPUT_PATHS:
        if not spec.HasField(message_name):
            continue
        message = getattr(spec, message_name)
        value = getattr(message, field)
        if value:
            setattr(message, field, resolve(value))
    if spec.HasField("evaluation"):
        sets = [resolve(s) for s in spec.evaluation.bin_sets]
        del spec.evaluation.bin_sets[:]
        spec.evaluation.bin_sets.extend(sets)


class Client:
    """One coordinator's JobService. Every call is authenticated with the token, if given."""

    def __init__(
        self,
        address: Optional[str] = None,
        *,
        token: Optional[str] = None,
        token_file: Optional[str] = None,
        tls_ca: Optional[str] = None,
        tls_cert: Optional[str] = None,
        tls_key: Optional[str] = None,
        tls_server_name: Optional[str] = None,
        timeout: float = 30.0,
    ):
        env = os.environ.get
        self.address = address or env("FTL_COORDINATOR", "127.0.0.1:50051")
        token_file = token_file or env("FTL_TOKEN_FILE")
        if token is None and token_file:
            token = _read(token_file).decode().strip()
        self._token = token
        self._timeout = timeout
        tls_ca = tls_ca or env("FTL_TLS_CA")
        tls_cert = tls_cert or env("FTL_TLS_CERT")
        tls_key = tls_key or env("FTL_TLS_KEY")
        tls_server_name = tls_server_name or env("FTL_TLS_SERVER_NAME")
        # As the CLI (services/security/credentials.cc): never plaintext when TLS was asked for.
        if not tls_ca and (tls_cert or tls_key):
            raise FtlError(
                "INVALID_ARGUMENT",
                "tls_cert/tls_key: a client certificate needs tls_ca (the CA of the coordinator)",
            )
        if bool(tls_cert) != bool(tls_key):
            raise FtlError("INVALID_ARGUMENT", "tls_cert and tls_key go together")
        if tls_ca:
            credentials = grpc.ssl_channel_credentials(
                root_certificates=_read(tls_ca),
                private_key=_read(tls_key),
                certificate_chain=_read(tls_cert),
            )
            options = [("grpc.ssl_target_name_override", tls_server_name)] if tls_server_name else []
            self._channel = grpc.secure_channel(self.address, credentials, options)
        else:
            self._channel = grpc.insecure_channel(self.address)
        self._stub = coordinator_pb2_grpc.JobServiceStub(self._channel)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _metadata(self):
        return [("authorization", f"Bearer {self._token}")] if self._token else []

    def _call(self, method, request, timeout: Optional[float] = -1.0):
        try:
            return method(
                request,
                metadata=self._metadata(),
                timeout=self._timeout if timeout == -1.0 else timeout,
            )
        except grpc.RpcError as e:
            raise FtlError(e.code().name, e.details() or "") from None

    def submit(
        self,
        spec: Union[Mapping[str, Any], str, os.PathLike],
        request_id: Optional[str] = None,
        base_dir: Optional[str] = None,
    ) -> str:
        """Submits a JobSpec (a dict, or the path of a JSON file); returns the job id.

        A retry with the same request_id returns the same job; another spec under a used
        request_id is refused (ALREADY_EXISTS). Relative input paths are taken from `base_dir`
        (default: the current folder).
        """
        if isinstance(spec, (str, os.PathLike)):
            with open(spec) as f:
                text = f.read()
        else:
            text = json.dumps(dict(spec))
        message = job_spec_pb2.JobSpec()
        try:
            json_format.Parse(text, message)
        except json_format.ParseError as e:
            raise FtlError("INVALID_ARGUMENT", f"not a valid JobSpec: {e}") from None
        _resolve_input_paths(message, base_dir or os.getcwd())
        request = coordinator_pb2.SubmitJobRequest(
            spec=message, request_id=request_id or uuid.uuid4().hex
        )
        return self._call(self._stub.SubmitJob, request).id

    def status(self, job_id: str) -> Dict[str, Any]:
        """The job as a dict (the Job message's fields: state, position, progress, ...)."""
        return _as_dict(self._call(self._stub.GetJob, coordinator_pb2.GetJobRequest(id=job_id)))

    def list(self, state: Optional[str] = None) -> List[Dict[str, Any]]:
        """Every job (summaries), optionally only those in `state` ("RUNNING", ...)."""
        jobs: List[Dict[str, Any]] = []
        request = coordinator_pb2.ListJobsRequest(page_size=200)
        if state:
            request.state = coordinator_pb2.JobState.Value(state)
        while True:
            page = self._call(self._stub.ListJobs, request)
            jobs.extend(_as_dict(job) for job in page.jobs)
            if not page.next_page_token:
                return jobs
            request.page_token = page.next_page_token

    def cancel(self, job_id: str) -> Dict[str, Any]:
        """Cancels a queued or running job; returns it."""
        return _as_dict(
            self._call(self._stub.CancelJob, coordinator_pb2.CancelJobRequest(id=job_id))
        )

    def watch(
        self, job_id: str, callback: Optional[Callable[[Dict[str, Any]], None]] = None
    ) -> str:
        """Follows the job until it ends, calling `callback` with each event as a dict; returns
        the final state ("SUCCEEDED", "FAILED" or "CANCELLED")."""
        state = ""
        try:
            events = self._stub.WatchJob(
                coordinator_pb2.WatchJobRequest(id=job_id), metadata=self._metadata()
            )
            for event in events:
                if event.HasField("job"):
                    state = coordinator_pb2.JobState.Name(event.job.state)
                if event.HasField("state_changed"):
                    state = coordinator_pb2.JobState.Name(event.state_changed)
                if callback is not None:
                    callback(_as_dict(event))
                if state in TERMINAL_STATES:
                    events.cancel()
                    break
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.CANCELLED or state not in TERMINAL_STATES:
                raise FtlError(e.code().name, e.details() or "") from None
        if state not in TERMINAL_STATES:
            state = self.status(job_id).get("state", state)
        return state

    def logs(self, job_id: str, follow: bool = False, tail_bytes: int = 0) -> Iterator[str]:
        """The job's worker log, as pieces of text (bounded reads of ReadJobLog, decoded as UTF-8
        across their boundaries; not escaped: the raw text); with `follow`, until the job has
        ended and its log is read to the end (once more a second later, for its last lines)."""
        offset = -tail_bytes if tail_bytes > 0 else 0
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        ended_at_end = False
        while True:
            chunk = self._call(
                self._stub.ReadJobLog, coordinator_pb2.ReadJobLogRequest(id=job_id, offset=offset)
            )
            text = decoder.decode(chunk.data)
            if text:
                yield text
            offset = chunk.next_offset
            if chunk.next_offset < chunk.size:
                continue
            if not follow or (chunk.job_ended and ended_at_end):
                break
            ended_at_end = chunk.job_ended
            time.sleep(1.0)
        rest = decoder.decode(b"", final=True)
        if rest:
            yield rest
