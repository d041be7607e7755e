#!/bin/sh
# Builds the C fuzz drivers (range coder, trellis search) with AddressSanitizer
# and UBSan (any finding aborts) and runs them: ./tests/c/run_sanitizers.sh [iterations] [seed]
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
out="${TMPDIR:-/tmp}/latentcodec_fuzz"
flags="-std=c99 -O1 -g -Wall -Wextra -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1
for part in entropy/csrc/range_coder quantizers/csrc/trellis; do
    name=$(basename "$part")
    csrc="$root/latentcodec/$(dirname "$part")"
    ${CC:-gcc} $flags -I"$csrc" -I"$root/tests/c" "$root/tests/c/fuzz_$name.c" "$root/latentcodec/$part.c" -lm -o "$out-$name"
    "$out-$name" "$@"
done
