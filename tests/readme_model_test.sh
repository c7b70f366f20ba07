#!/usr/bin/env bash
# The README's "Use your model" commands, run exactly as written (the block is read from
# README.md) in a layout like a fresh clone after `bash scripts/demo.sh`: <tmp>/repo with build/,
# scripts/ and ftl-output/yaleb-demo (a short run of the demo's config), <tmp>/shared the data.
# The commands must leave `git status` clean (they write only into ignored paths).
#   readme_model_test.sh SOURCE_DIR BUILD_DIR SHARED_DIR
set -euo pipefail
source_dir=$(realpath "$1") build_dir=$(realpath "$2") shared_dir=$(realpath "$3")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
mkdir -p "$work/repo"
ln -s "$build_dir" "$work/repo/build"
ln -s "$source_dir/scripts" "$work/repo/scripts"
ln -s "$shared_dir" "$work/shared"
cd "$work/repo"
# A git work tree with the project's .gitignore, to see what the commands leave behind.
cp "$source_dir/.gitignore" .gitignore
git init -q . && git add .gitignore && git -c user.name=t -c user.email=t@t commit -qm init
# The demo's job, shortened: the same model, data and output folder.
/usr/bin/python3 - "$source_dir/configs/yaleb_demo.json" <<'PY'
import json, sys
spec = json.load(open(sys.argv[1]))
spec["training"].update({"pretrain_iterations": 30, "rounds": 1, "stage_iterations": 5})
json.dump(spec, open("../demo.json", "w"))
PY
build/services/worker/ftl_worker --config ../demo.json --threads 2 > ../demo.log 2>&1 || { tail ../demo.log; fail "demo run"; }

mapfile -t commands < <(awk '/^## Use your model/ {on = 1} on && /^```sh/ {code = 1; next} code && /^```/ {exit} code' \
  "$source_dir/README.md")
[[ ${#commands[@]} -ge 4 ]] || fail "expected the README's model commands, got ${#commands[@]}"
for command in "${commands[@]}"; do
  echo "\$ $command"
  bash -c "$command" > ../out.log 2>&1 || { cat ../out.log; fail "as written: $command"; }
  tail -2 ../out.log
done
out=ftl-output/yaleb-demo
[[ -s $out/encoder.pt && -s $out/encoder.onnx && -s $out/encoder.safetensors ]] || fail "no exported models"
/usr/bin/python3 -c "
import numpy as np
e = np.load('$out/embeddings/embeddings.npy'); n = open('$out/embeddings/names.txt').read().split()
assert e.shape == (len(n), 128) and len(n) > 1000, (e.shape, len(n))
print('ok: embeddings', e.shape)"
grep -q "lfw.bin: accuracy .* (6000 pairs, 10 folds" ../out.log || fail "verify did not report lfw.bin"
# Nothing but the test's own links (build, scripts) outside ignored paths.
left=$(git status --porcelain --untracked-files=all | grep -v -e '^?? build$' -e '^?? scripts$' || true)
[[ -z $left ]] || fail "the README's commands left files in the checkout: $left"
echo PASS
