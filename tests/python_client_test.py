"""The Python client against a live coordinator (run by python_client_test.sh)."""
import os
import sys

import ftl_client
from ftl_client import Client, FtlError

address, token_file, yale = sys.argv[1:4]
assert "site" in os.path.dirname(ftl_client.__file__), ftl_client.__file__  # the installed one


def check(condition, what):
    if not condition:
        print("FAIL:", what)
        sys.exit(1)


def spec(pretrain, stage):
    return {
        "name": "py-client",
        "model": {"preset": "small", "input_size": 32},
        # Relative, as in a config file: made absolute against the current folder.
        "data": {"path": os.path.relpath(yale), "cut_classes": 13, "cut_to_images": 5},
        "training": {"batch_size": 16, "pretrain_iterations": pretrain, "rounds": 1,
                     "stage_iterations": stage},
        "runtime": {"ranks": 1, "progress_seconds": 1},
    }


with Client(address, token_file=token_file) as client:
    job = client.submit(spec(20, 4), request_id="py-1")
    check(job.startswith("job-"), job)
    check(client.submit(spec(20, 4), request_id="py-1") == job, "a retry returns the same job")
    try:
        client.submit(spec(21, 4), request_id="py-1")
        check(False, "another spec under a used request_id was accepted")
    except FtlError as e:
        check(e.code == "ALREADY_EXISTS", e)
    events = []
    state = client.watch(job, events.append)
    check(state == "SUCCEEDED", "watch ended in %s" % state)
    check(any("phase_finished" in e for e in events), "no phase_finished event in %d" % len(events))
    status = client.status(job)
    check(status["state"] == "SUCCEEDED" and status["spec"]["data"]["path"] == yale, status)
    log = "".join(client.logs(job))
    check("schedule:" in log, "the worker log has no schedule line: %r" % log[-300:])
    check(len("".join(client.logs(job, tail_bytes=100)).encode()) <= 100, "tail_bytes")
    check(job in [j["id"] for j in client.list()], "list")
    check(job in [j["id"] for j in client.list("SUCCEEDED")], "list by state")

    long_job = client.submit(spec(100000, 4))
    cancelled = client.cancel(long_job)
    check(cancelled["state"] in ("CANCELLED",), cancelled)
    check(client.watch(long_job) == "CANCELLED", "watch of a cancelled job")
    try:
        client.status("job-0000000000000-0000")
        check(False, "an unknown job")
    except FtlError as e:
        check(e.code == "NOT_FOUND", e)

try:
    Client(address, tls_cert="client.pem", tls_key="client.key")  # no CA: never plaintext
    check(False, "a client certificate without a CA was accepted")
except FtlError as e:
    check(e.code == "INVALID_ARGUMENT", e)
try:
    Client(address, token="wrong").status(job)
    check(False, "a wrong token was accepted")
except FtlError as e:
    check(e.code == "UNAUTHENTICATED", e)
print("ok: submitted, watched to SUCCEEDED, read the logs, listed and cancelled")
