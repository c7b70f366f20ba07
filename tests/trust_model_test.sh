#!/usr/bin/env bash
# The trust model of docs/operations.md with real processes on loopback (issue 29):
#  1. a crafted TorchScript module under a data root, named as a job's model.init_from, does not
#     run: the job fails saying the file is code, the file its code would overwrite is untouched;
#  2. `--worker_user` starts the workers as an unprivileged user: the job succeeds, its
#     checkpoints belong to that user, and that user cannot read the store or the users' token;
#  3. --worker_user refuses root, an unknown user and launchers that do not start workers.
# Needs root (as CI runs): only root can start processes as another user. It creates the system
# user ftl-test-worker when missing.
#   trust_model_test.sh COORDINATOR FTL DATA_ROOT
set -euo pipefail
coordinator_bin=$(realpath "$1") ftl_bin=$(realpath "$2") data_root=$(realpath "$3")
fail() { echo "FAIL: $*"; for f in "$work"/*.log; do echo "== $f"; tail -20 "$f"; done; exit 1; }
[[ $(id -u) == 0 ]] || { echo "FAIL: needs root (starting workers as another user is root's)"; exit 1; }
user=ftl-test-worker
id "$user" > /dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$user"
as_user() { setpriv --reuid="$(id -u "$user")" --regid="$(id -g "$user")" --init-groups -- "$@"; }
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -9 "$pid" 2> /dev/null || true; done
  rm -rf "$work" || true
}
trap cleanup EXIT
chmod 711 "$work"  # the worker user passes through to its job folder, lists nothing
cd "$work"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -m 755 data && ln -s "$data_root/yaleb-cropped" data/faces
echo "user-token-$RANDOM" > token && chmod 600 token
export FTL_COORDINATOR=127.0.0.1:$port

start_coordinator() {  # start_coordinator LOG [FLAGS...]
  local log=$1; shift
  "$coordinator_bin" --listen "127.0.0.1:$port" --metrics_listen "" --state_dir "$work/state" \
    --data_root "$work/data" --data_root "$data_root" --auth_token_file token "$@" > "$log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do "$ftl_bin" --token_file token list > /dev/null 2>&1 && return; sleep 0.2; done
  fail "the coordinator did not start"
}
write_job() {  # write_job FILE NAME [INIT_FROM]
  cat > "$1" <<JSON
{"name": "$2", "model": {"preset": "small", "input_size": 32, "init_from": "${3:-}"},
 "data": {"path": "$work/data/faces", "cut_classes": 13, "cut_to_images": 5},
 "training": {"batch_size": 16, "pretrain_iterations": 20, "rounds": 1, "stage_iterations": 5},
 "runtime": {"ranks": 1, "threads_per_rank": 1, "max_restarts": 0}}
JSON
}

echo "--- a crafted TorchScript module named as init_from does not run"
head -c 16 /dev/zero > data/victim
/usr/bin/python3 - "$work/data/victim" <<'PY'
import sys
import torch
victim = sys.argv[1]
source = '''
import torch
from typing import Tuple
class Crafted(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.input_size = 32
    @torch.jit.export
    def __getstate__(self) -> Tuple[int, bool]:
        return (self.input_size, self.training)
    @torch.jit.export
    def __setstate__(self, state: Tuple[int, bool]) -> None:
        t = torch.from_file(VICTIM, True, 16, dtype=torch.uint8)
        t.fill_(88)
        print(t.sum())
        self.input_size = state[0]
        self.training = state[1]
    def forward(self, x):
        return x
'''.replace("VICTIM", repr(victim))
namespace = {}
open("crafted_module.py", "w").write(source)
sys.path.insert(0, ".")
import crafted_module
torch.jit.script(crafted_module.Crafted()).save("data/crafted.pt")
torch.jit.load("data/crafted.pt")  # the probe is live: loading it runs its code
assert open(victim, "rb").read() == b"X" * 16, "the crafted module did not run when loaded"
open(victim, "wb").write(b"\0" * 16)
PY
start_coordinator coord.log
write_job crafted.json crafted "$work/data/crafted.pt"
id=$("$ftl_bin" --token_file token submit crafted.json)
set +e
"$ftl_bin" --token_file token watch "$id" > crafted_watch.log 2>&1; code=$?
set -e
[[ $code != 0 ]] || fail "a job with a crafted init_from succeeded"
"$ftl_bin" --token_file token status "$id" > crafted_status.log 2>&1 || true
grep -q "is a TorchScript module, which is code" crafted_status.log crafted_watch.log "$work/state/jobs/$id/worker.log" ||
  fail "the refusal does not say the module is code"
[[ $(od -An -tx1 data/victim | tr -d ' \n') == 00000000000000000000000000000000 ]] ||
  fail "the crafted module's code ran (the victim file was written)"
echo "refused unrun: $(grep -ho "model.init_from: [^(]*is a TorchScript module, which is code" "$work/state/jobs/$id/worker.log" | head -1)"
kill "${pids[-1]}"; wait "${pids[-1]}" 2> /dev/null || true

echo "--- --worker_user: the workers run as $user"
start_coordinator coord_user.log --worker_user "$user"
[[ $(stat -c %a "$work/state/jobs.db") == 600 ]] || fail "jobs.db is not private ($(stat -c %a "$work/state/jobs.db"))"
[[ $(stat -c %a "$work/state") == 711 && $(stat -c %a "$work/state/jobs") == 711 ]] ||
  fail "the state folders are not traverse-only"
write_job plain.json as-user
id=$("$ftl_bin" --token_file token submit plain.json)
"$ftl_bin" --token_file token watch "$id" > user_watch.log 2>&1 || fail "the job did not succeed as $user"
job_dir="$work/state/jobs/$id"
ls "$job_dir"/*.ftlckpt > /dev/null || fail "no checkpoint"
for f in "$job_dir"/*.ftlckpt "$job_dir/summary.json"; do
  [[ $(stat -c %U "$f") == "$user" ]] || fail "$f belongs to $(stat -c %U "$f"), not $user"
done
as_user cat "$job_dir/summary.json" > /dev/null || fail "$user cannot read its own job's summary"
! as_user cat "$work/state/jobs.db" > /dev/null 2>&1 || fail "$user can read the job store"
! as_user cat token > /dev/null 2>&1 || fail "$user can read the users' token"
! as_user ls "$work/state/jobs" > /dev/null 2>&1 || fail "$user can list every job's folder"
echo "ran as $user: $(stat -c '%U %n' "$job_dir"/*.ftlckpt | head -1); store, token and job list unreadable to it"
kill "${pids[-1]}"; wait "${pids[-1]}" 2> /dev/null || true

echo "--- --worker_user refuses what it cannot do"
expect_start_refused() {  # expect_start_refused WHAT PATTERN FLAGS...
  local what=$1 pattern=$2; shift 2
  set +e
  local out code
  out=$(timeout 20 "$coordinator_bin" --listen "127.0.0.1:$port" --metrics_listen "" \
    --state_dir "$work/state2" --data_root "$work/data" "$@" 2>&1); code=$?
  set -e
  [[ $code == 2 && $out == *$pattern* ]] || fail "$what: exit $code: $out"
  echo "refused as it should be ($what): $(echo "$out" | tail -1)"
}
expect_start_refused "root" "is root" --worker_user root
expect_start_refused "unknown user" "no user" --worker_user no-such-user-ftl
expect_start_refused "external launcher" "only the local launcher" --worker_user "$user" --launcher external
echo PASS
