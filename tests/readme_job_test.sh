#!/usr/bin/env bash
# The README's "Running your own job" commands, run exactly as written (the block is read from
# README.md) in a layout like a fresh clone: <tmp>/repo with build/ and configs/ (the demo's config
# shortened to a few iterations, so the test is quick), HOME a fresh folder, <tmp>/shared the
# data. The run must finish, the resume must continue it, and `git status` must stay clean.
#   readme_job_test.sh SOURCE_DIR BUILD_DIR SHARED_DIR
set -euo pipefail
source_dir=$(realpath "$1") build_dir=$(realpath "$2") shared_dir=$(realpath "$3")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
mkdir -p "$work/repo/configs" "$work/home"
ln -s "$build_dir" "$work/repo/build"
ln -s "$shared_dir" "$work/shared"
/usr/bin/python3 - "$source_dir/configs/yaleb_demo.json" "$work/repo/configs/yaleb_demo.json" <<'PY'
import json, sys
spec = json.load(open(sys.argv[1]))
spec["training"].update({"pretrain_iterations": 20, "rounds": 1, "stage_iterations": 4})
json.dump(spec, open(sys.argv[2], "w"), indent=1)
PY
cd "$work/repo"
cp "$source_dir/.gitignore" .gitignore
git init -q . && git add .gitignore configs && git -c user.name=t -c user.email=t@t commit -qm init
export HOME="$work/home"

mapfile -t commands < <(awk '/^## Running your own job/ {on = 1} on && /^```sh/ {code = 1; next} code && /^```/ {exit} code' \
  "$source_dir/README.md")
[[ ${#commands[@]} == 4 ]] || fail "expected 4 commands in the README's job block, got ${#commands[@]}"
i=0
for command in "${commands[@]}"; do
  i=$((i + 1))
  echo "\$ $command"
  bash -c "$command" > "$work/out$i.log" 2>&1 || { tail -30 "$work/out$i.log"; fail "as written: $command"; }
  tail -2 "$work/out$i.log"
done
summary="$HOME/ftl-runs/my-job/summary.json"
[[ -f $summary ]] || fail "no $summary"
grep -q '"finished": true' "$summary" || fail "the run did not finish"
grep -q "resumed from .*my-job/ckpt-" "$work/out3.log" || { cat "$work/out3.log"; fail "the second command did not resume"; }
grep -q "Exit codes" "$work/out4.log" || fail "--help printed no usage"
left=$(git status --porcelain --untracked-files=all | grep -v -e '^?? build$' || true)
[[ -z $left ]] || fail "the README's job commands left files in the checkout: $left"
echo PASS
