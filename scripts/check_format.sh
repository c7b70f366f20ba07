#!/usr/bin/env bash
# Fails when a C++ file of the checkout is not formatted as .clang-format says (prints the first
# differences). Fix with: bash scripts/check_format.sh --fix
set -euo pipefail
cd "$(dirname "$0")/.."
# Tracked and new (untracked, not ignored) files: a new file is checked before it is committed.
mapfile -t files < <(git ls-files --cached --others --exclude-standard '*.cc' '*.h' | grep -v '^tests/fuzz/corpus/')
if [[ ${1:-} == --fix ]]; then
  clang-format -i "${files[@]}"
  echo "formatted ${#files[@]} files"
  exit 0
fi
if ! out=$(clang-format --dry-run -Werror "${files[@]}" 2>&1); then
  echo "FAIL: not formatted per .clang-format (fix: bash scripts/check_format.sh --fix):"
  echo "$out" | head -40
  exit 1
fi
echo "ok: ${#files[@]} C++ files formatted per .clang-format"
