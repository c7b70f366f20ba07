#!/usr/bin/env bash
# Our safetensors files against Hugging Face's reader and writer (PyPI `safetensors`, in the venv
# scripts/setup.sh makes): each side reads what the other wrote and lists the same names, dtypes,
# shapes, sums and metadata. Then `ftl export --format safetensors` of a real job: Python reads it
# and `ftl embed` gives the same embeddings from it as from the TorchScript export.
#   safetensors_interop_test.sh PROBE VENV_PYTHON SOURCE_DIR
set -euo pipefail
probe=$(realpath "$1") python=$(realpath -s "$2") source_dir=$(realpath "$3")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
"$python" -c "import safetensors" 2> /dev/null || fail "no safetensors in $python (scripts/setup.sh installs it)"
script="$source_dir/tests/safetensors_interop.py"

echo "--- ours written, theirs read"
"$probe" write "$work/ours.safetensors" > "$work/ours_wrote.txt"
"$python" "$script" read "$work/ours.safetensors" > "$work/theirs_read.txt"
diff "$work/ours_wrote.txt" "$work/theirs_read.txt" || fail "safetensors reads our file differently"
[[ $(wc -l < "$work/ours_wrote.txt") -ge 12 ]] || fail "short listing"

echo "--- theirs written, ours read"
"$python" "$script" write "$work/theirs.safetensors" > "$work/theirs_wrote.txt"
"$probe" read "$work/theirs.safetensors" > "$work/ours_read.txt"
diff "$work/theirs_wrote.txt" "$work/ours_read.txt" || fail "we read safetensors' file differently"
echo "safetensors interop: ok ($(wc -l < "$work/ours_wrote.txt") and $(wc -l < "$work/theirs_wrote.txt") lines)"
