#!/bin/sh
# Instructions per byte of masking, per content class, counted by callgrind
# (repeatable whatever else the machine runs, unlike MB/s):
#   cargo build --release -p limen-mask --example profile
#   native/limen-mask/examples/instructions.sh [one|stream|rules] [MiB]
# Only `measured` in examples/profile.rs is counted (the masker is warm).
set -eu
MODE=${1:-one}
MIB=${2:-1}
BIN=${BIN:-target/release/examples/profile}
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT
for c in "prose" "logs" "json" "json escaped" "csv numbers" "base64" "base64 no newline" "hex" \
    "digit run" "digit groups" "single digits spaced" "dotted numbers" \
    "dotted numbers 2" "key prefixes" "key prefixes glued" "password near-miss" \
    "emails no domain" "emails glued" "jwt no dots" "jwt dots no eyJ" \
    "pem headers" "url near-miss" "phone near-miss" "iban near-miss" \
    "bearer near-miss"; do
    valgrind --tool=callgrind --callgrind-out-file="$OUT" \
        --toggle-collect='*measured*' "$BIN" "$c" "$MIB" "$MODE" >/dev/null 2>&1
    ir=$(awk '/^(summary|totals):/ {print $2; exit}' "$OUT")
    awk -v c="$c" -v ir="$ir" -v mib="$MIB" \
        'BEGIN { printf "%-22s %8.2f\n", c, ir / (mib * 1048576) }'
done
