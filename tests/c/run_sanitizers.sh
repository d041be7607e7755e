#!/bin/sh
# Builds the C fuzz driver against range_coder.c with AddressSanitizer and
# UBSan (any finding aborts) and runs it: ./tests/c/run_sanitizers.sh [iterations] [seed]
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
csrc="$root/latentcodec/entropy/csrc"
out="${TMPDIR:-/tmp}/latentcodec_fuzz_range_coder"
${CC:-gcc} -std=c99 -O1 -g -Wall -Wextra -fsanitize=address,undefined -fno-sanitize-recover=all \
    -fno-omit-frame-pointer -I"$csrc" "$root/tests/c/fuzz_range_coder.c" "$csrc/range_coder.c" -o "$out"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 "$out" "$@"
