#!/usr/bin/env bash
# The README's "As a service" commands, run exactly as written (the block is read from README.md)
# in a layout like a fresh clone: <tmp>/repo with build/ and configs/, and <tmp>/shared the data.
# Only JOB_ID is replaced, by the id `ftl submit` printed. The job must succeed.
#   readme_service_test.sh SOURCE_DIR BUILD_DIR SHARED_DIR
set -euo pipefail
source_dir=$(realpath "$1") build_dir=$(realpath "$2") shared_dir=$(realpath "$3")
work=$(mktemp -d)
coordinator_pid=""
cleanup() {
  local status=$?
  if [[ -n $coordinator_pid ]]; then
    kill "$coordinator_pid" 2> /dev/null || true
    wait "$coordinator_pid" 2> /dev/null || true
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
mkdir -p "$work/repo"
ln -s "$build_dir" "$work/repo/build"
ln -s "$source_dir/configs" "$work/repo/configs"
ln -s "$shared_dir" "$work/shared"
cd "$work/repo"
# A git work tree with the project's .gitignore, to see what the commands leave behind.
cp "$source_dir/.gitignore" .gitignore
git init -q . && git add .gitignore && git -c user.name=t -c user.email=t@t commit -qm init

mapfile -t commands < <(awk '/^## As a service/ {on = 1} on && /^```sh/ {code = 1; next} code && /^```/ {exit} code' \
  "$source_dir/README.md")
[[ ${#commands[@]} == 4 ]] || { echo "FAIL: expected 4 commands in README's service block, got ${#commands[@]}"; exit 1; }
strip() { sed -e 's/[[:space:]]*#.*$//' -e 's/[[:space:]]*$//' <<< "$1"; }
start=$(strip "${commands[0]}") submit=$(strip "${commands[1]}") watch=$(strip "${commands[2]}")
logs=$(strip "${commands[3]}")
[[ $start == *' &' ]] || { echo "FAIL: the first command should start the coordinator in the background"; exit 1; }
echo "\$ $start"
bash -c "exec ${start% &}" > ../coordinator.log 2>&1 &
coordinator_pid=$!
for _ in $(seq 100); do
  grep -q "listening on" ../coordinator.log && break
  sleep 0.2
done
grep -q "listening on" ../coordinator.log || { echo "FAIL: coordinator did not start"; cat ../coordinator.log; exit 1; }
echo "\$ $submit"
job_id=$(bash -c "$submit") || { echo "FAIL: submit was refused: $job_id"; cat ../coordinator.log; exit 1; }
echo "$job_id"
[[ $job_id == job-* ]] || { echo "FAIL: submit printed '$job_id', not a job id"; exit 1; }
watch=${watch//JOB_ID/$job_id}
echo "\$ $watch"
if ! timeout 600 bash -c "$watch" > ../watch.log 2>&1; then
  echo "FAIL: the job did not succeed"; tail -20 ../watch.log; tail -20 ../coordinator.log
  find ftl-state -name worker.log -exec tail -20 {} \;
  exit 1
fi
tail -3 ../watch.log
logs=${logs//JOB_ID/$job_id}
echo "\$ $logs"
bash -c "$logs" > ../logs.out 2>&1 || { cat ../logs.out; echo "FAIL: ftl logs failed"; exit 1; }
tail -2 ../logs.out
grep -q "\[rank 0\]" ../logs.out || { echo "FAIL: ftl logs printed no worker log lines"; exit 1; }
[[ $(wc -c < ../logs.out) -le 2200 ]] || { echo "FAIL: --tail_bytes 2000 printed more"; exit 1; }
# The Python example, against the same coordinator (the client as the build generated it).
awk '/^## As a service/ {on = 1} on && /^```python/ {code = 1; next} code && /^```/ {exit} code' \
  "$source_dir/README.md" > ../readme_client.py
[[ -s ../readme_client.py ]] || { echo "FAIL: no Python example in the README's service section"; exit 1; }
sed -i "s/JOB_ID/$job_id/g" ../readme_client.py
echo "\$ build/venv/bin/python (the README's Python example)"
PYTHONPATH=build/python timeout 600 build/venv/bin/python ../readme_client.py > ../client.out 2>&1 ||
  { cat ../client.out; echo "FAIL: the README's Python example"; exit 1; }
tail -3 ../client.out
# The first job's state, then the new job's phases and its final state.
[[ $(grep -c "SUCCEEDED$" ../client.out) -ge 2 ]] ||
  { cat ../client.out; echo "FAIL: the Python example's job did not succeed"; exit 1; }
# The finished launch is reaped: no defunct mpirun left under the coordinator.
sleep 2
zombies=$( (ps -o stat=,comm= --ppid "$coordinator_pid" || true) | awk '$1 ~ /^Z/' | wc -l)
[[ $zombies == 0 ]] || { echo "FAIL: $zombies defunct child process(es) of the coordinator"; ps --ppid "$coordinator_pid"; exit 1; }
# Where the README says things go: the job folder under --state_dir, the output_dir inside it.
out="ftl-state/jobs/$job_id/ftl-output/yaleb-demo"
[[ -f $out/summary.json ]] || { echo "FAIL: no $out/summary.json"; exit 1; }
grep -q '"finished": true' "$out/summary.json" || { echo "FAIL: summary not finished"; exit 1; }
left=$(git status --porcelain --untracked-files=all | grep -v -e '^?? build$' -e '^?? configs$' || true)
[[ -z $left ]] || { echo "FAIL: the README's service commands left files in the checkout: $left"; exit 1; }
echo "ok: the README's service example ran as written; results in $out"
