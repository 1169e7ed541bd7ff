#!/bin/bash
# Where the standalone nsinit's bytes go, as a markdown table: the same
# code built unstripped (in its own target directory, so the release
# build is untouched), its loaded sections (`size -A`) and its symbols'
# sizes by crate (`nm -S -C`: core and alloc are Rust's precompiled
# libraries, base is nsinit's core, nsinit the executable's own code).
# Usage: bench/nsinit-size.sh [TARGET_DIR]
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
DIR=${1:-$TOP/target/nsinit-size}
NSINIT_KEEP_SYMBOLS=1 CARGO_PROFILE_RELEASE_STRIP=false cargo build --quiet --release --locked \
    --manifest-path "$TOP/Cargo.toml" -p nsinit-alone --target-dir "$DIR" >&2
bin=$DIR/release/nsinit
stripped=$(mktemp)
trap 'rm -f "$stripped"' EXIT
strip -o "$stripped" "$bin"
echo "| part | bytes |"
echo "| --- | ---: |"
echo "| the file, stripped (as \`make\` builds it) | $(stat -c %s "$stripped") |"
size -A "$bin" | awk '$1 ~ /^\.(text|rodata|data\.rel\.ro|data|bss|eh_frame|eh_frame_hdr)$/ && $2 > 0 {
    printf "| section %s | %d |\n", $1, $2 }'
nm -S -t d --size-sort -C "$bin" | awk '
    $2 ~ /^[0-9]+$/ {
        size = $2 + 0
        name = $0
        sub(/^[^ ]+ [^ ]+ [^ ]+ /, "", name)
        best = 0; crate = "other (C-level names: memcpy, _start ...)"
        n = split("core alloc base nsinit compiler_builtins", cs, " ")
        for (k = 1; k <= n; k++) {
            i = index(name, cs[k] "::")
            if (i > 0 && (best == 0 || i < best)) { best = i; crate = cs[k] }
        }
        total[crate] += size
    }
    END { for (c in total) printf "| symbols of %s | %d |\n", c, total[c] }' | sort -t'|' -k3 -rn
