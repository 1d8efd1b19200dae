#!/usr/bin/env bash
# rust-toolchain.toml pins the Rust version. rustup cannot download toolchains on these machines, so when the
# pinned name is not installed, the installed stable is linked under it if, and only if, it is that version.
set -euo pipefail
cd "$(dirname "$0")/.."
want=$(sed -n 's/^channel *= *"\(.*\)"/\1/p' rust-toolchain.toml)
if rustup toolchain list | grep -q "^${want}"; then
  exit 0
fi
have=$(RUSTUP_TOOLCHAIN=stable rustc --version | cut -d' ' -f2)
if [ "$have" != "$want" ]; then
  echo "rust-toolchain.toml pins Rust $want, but the installed stable is $have: install $want or change the pin" >&2
  exit 1
fi
rustup toolchain link "$want" "$(RUSTUP_TOOLCHAIN=stable rustc --print sysroot)"
echo "linked the installed stable ($have) as toolchain $want"
