#!/usr/bin/env bash
# Runs every fuzz target for the given seconds each (stable toolchain, nightly flags via RUSTC_BOOTSTRAP).
# With "grow", new interesting inputs land in fuzz/corpus/<target> (make fuzz); otherwise the corpus is read
# from a scratch copy and left as it is (make test's smoke run). A crash stops the run, saved in fuzz/artifacts.
set -euo pipefail
seconds=${1:-60}
mode=${2:-smoke}
cd "$(dirname "$0")"
targets=$(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | grep -v codepipeline)
export RUSTC_BOOTSTRAP=1
cargo fuzz build -O -a -s none >/dev/null 2>&1 || cargo fuzz build -O -a -s none
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
for target in $targets; do
  mkdir -p corpus/"$target"
  corpus=corpus/"$target"
  if [ "$mode" != grow ]; then
    cp -r corpus/"$target" "$scratch/$target"
    corpus="$scratch/$target"
  fi
  log=$(mktemp)
  if ! cargo fuzz run -O -a -s none "$target" "$corpus" -- -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=1024 >"$log" 2>&1; then
    tail -40 "$log"; echo "fuzz target $target FAILED"; exit 1
  fi
  echo "$target: $(grep -E '^Done [0-9]+ runs' "$log" | tail -1)"
  rm -f "$log"
done
