#!/usr/bin/env bash
# --help on every binary exits 0 and shows that binary's (or command's) own flags; `ftl COMMAND
# --help` lists only the flags COMMAND reads.
#   help_test.sh FTL FTL_WORKER FTL_COORDINATOR
set -euo pipefail
ftl=$1 worker=$2 coordinator=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

help_of() {  # help_of NAME COMMAND... -> $work/NAME.txt, exit code 0 required
  local name=$1 code=0
  shift
  "$@" > "$work/$name.txt" 2>&1 || code=$?
  [[ $code == 0 ]] || { cat "$work/$name.txt"; fail "$* exited $code, want 0"; }
  ! grep -q "not a flag of this build" "$work/$name.txt" || fail "$*: a listed flag does not exist"
}
has() { grep -q -- "$2" "$work/$1.txt" || { cat "$work/$1.txt"; fail "$1: no '$2'"; }; }
lacks() { ! grep -q -- "$2" "$work/$1.txt" || { cat "$work/$1.txt"; fail "$1: lists '$2'"; }; }

help_of worker "$worker" --help
has worker "--resume" && has worker "--config" && has worker "Exit codes"
lacks worker "--variants"
help_of coordinator "$coordinator" --help
has coordinator "--data_root" && has coordinator "--state_dir"
lacks coordinator "--resume"
help_of client "$ftl" --help
has client "ftl submit" && has client "--coordinator"
help_of client_h "$ftl" -h
has client_h "ftl submit"

for command in split pairs eval experiment pack synth export embed verify; do
  help_of "$command" "$ftl" "$command" --help
  has "$command" "ftl $command"
done
has export "--format" && has export "--features" && has export "--checkpoint"
lacks export "--variants"
lacks export "--manifest"
lacks export "--threads"
has experiment "--variants" && has experiment "--budget"
has experiment "--splits" && has experiment "--tuning_seed"
has embed "--manifest" && has embed "--threads=0"
lacks embed "--variants"
lacks verify "--manifest"
lacks pack "--seed"
has synth "--identities" && has synth "--regular_images" && has synth "--seed"
lacks synth "--variants"
echo PASS
