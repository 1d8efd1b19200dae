#!/usr/bin/env bash
# Runs every fuzz target for the given seconds each (stable toolchain, nightly flags via RUSTC_BOOTSTRAP).
# New interesting inputs land in fuzz/corpus/<target>; a crash stops the run and is saved in fuzz/artifacts.
set -euo pipefail
seconds=${1:-60}
cd "$(dirname "$0")"
targets=$(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | grep -v codepipeline)
export RUSTC_BOOTSTRAP=1
cargo fuzz build -O -a -s none >/dev/null 2>&1 || cargo fuzz build -O -a -s none
for target in $targets; do
  mkdir -p corpus/"$target"
  log=$(mktemp)
  if ! cargo fuzz run -O -a -s none "$target" corpus/"$target" -- -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=1024 >"$log" 2>&1; then
    tail -40 "$log"; echo "fuzz target $target FAILED"; exit 1
  fi
  echo "$target: $(grep -E '^Done [0-9]+ runs' "$log" | tail -1)"
  rm -f "$log"
done
