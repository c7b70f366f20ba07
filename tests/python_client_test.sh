#!/usr/bin/env bash
# The Python client (clients/python, built into BUILD/python) against a live coordinator on
# loopback: the package is built as a wheel and installed into a fresh folder, then
# tests/python_client_test.py submits, watches to SUCCEEDED, reads the logs, lists and cancels.
#   python_client_test.sh COORDINATOR_BIN BUILD_DIR DATA_ROOT PYTHON
set -euo pipefail
coordinator_bin=$(realpath "$1") build_dir=$(realpath "$2") data_root=$(realpath "$3") python=$(realpath -s "$4")
here=$(dirname "$(realpath "$0")")
work=$(mktemp -d)
coord_pid=""
cleanup() {
  [[ -n $coord_pid ]] && kill -9 "$coord_pid" 2> /dev/null || true
  pkill -9 -f "ftl_worker --coordinator 127.0.0.1:$port" 2> /dev/null || true
  rm -rf "$work" || true
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; [[ -f $work/coord.log ]] && tail -30 "$work/coord.log"; exit 1; }
free_port() { "$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
metrics_port=$(free_port)
echo "py-token-$RANDOM" > "$work/token"

# The package as a user installs it: a wheel of BUILD/python, installed into its own folder.
"$python" -m pip wheel -q --no-deps --no-build-isolation "$build_dir/python" -w "$work/wheel" > "$work/pip.log" 2>&1 ||
  { cat "$work/pip.log"; fail "the package does not build"; }
"$python" -m pip install -q --no-deps --target "$work/site" "$work"/wheel/ftl_client-*.whl > "$work/pip.log" 2>&1 ||
  { cat "$work/pip.log"; fail "the wheel does not install"; }

"$coordinator_bin" --listen "127.0.0.1:$port" --metrics_listen "127.0.0.1:$metrics_port" \
  --state_dir "$work/state" --data_root "$data_root" --auth_token_file "$work/token" > "$work/coord.log" 2>&1 &
coord_pid=$!
for _ in $(seq 100); do
  grep -q "listening on" "$work/coord.log" && break
  sleep 0.2
done
grep -q "listening on" "$work/coord.log" || fail "coordinator did not start"

cd "$work"
PYTHONPATH="$work/site" "$python" "$here/python_client_test.py" "127.0.0.1:$port" \
  "$work/token" "$data_root/yaleb-cropped" || fail "python_client_test.py"
echo PASS
