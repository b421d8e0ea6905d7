#!/usr/bin/env bash
# The whole test suite: every crate's unit tests and the integration tests, which start real
# namenode and datanode processes on loopback. This is what CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."

# The daemons of the test build have their failpoints compiled in (tests/failpoints.rs arms
# them through FAILPOINTS); release builds never do. Building and testing with the same
# features keeps cargo from rebuilding the binaries without them.
features=granary-namenode/failpoints,granary-datanode/failpoints

# The integration tests drive the daemon and CLI binaries, so build them first.
cargo build --workspace --all-targets --features "$features"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --features "$features" --profile "${NEXTEST_PROFILE:-default}"
else
  echo "cargo-nextest not found; using cargo test" >&2
  cargo test --workspace --features "$features"
fi
