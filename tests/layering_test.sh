#!/usr/bin/env bash
# The layering rules docs/ARCHITECTURE.md states, checked on the sources:
#  - below services/, only the config conversion includes generated protobuf headers;
#  - library code (common/) never reads command-line flags (absl::GetFlag): tools build options
#    structs from flags once, at the edge.
set -euo pipefail
root=${1:?usage: layering_test.sh SOURCE_ROOT}
cd "$root"
failed=0
pb=$(grep -rlE '#include "[^"]*\.pb\.h"' common --include='*.h' --include='*.cc' \
       | grep -v '^common/config/job_spec_conversion\.\(h\|cc\)$' || true)
if [[ -n $pb ]]; then
  echo "FAIL: generated protobuf headers included below services/ outside the config conversion:"
  echo "$pb"
  failed=1
fi
flags=$(grep -rlE 'absl::GetFlag|ABSL_FLAG\(' common --include='*.h' --include='*.cc' || true)
if [[ -n $flags ]]; then
  echo "FAIL: library code reads flags:"
  echo "$flags"
  failed=1
fi
# The rules above must have something to check: the conversion itself is where the wire type is.
grep -q 'ftl/v1/job_spec.pb.h' common/config/job_spec_conversion.h || { echo "FAIL: conversion moved?"; failed=1; }
[[ $failed == 0 ]] && echo "ok: layering (protobuf only in common/config/job_spec_conversion.*, no flags in common/)"
exit $failed
