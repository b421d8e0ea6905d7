#!/usr/bin/env bash
# Demo: start a local cluster of 3 datanodes, put a multi-block file, show its blocks and
# replica locations, get it back and verify it; run a count-field job over a generated access
# log (top 5 URLs and the locality counters); then add a datanode, run a failure drill that
# kills one, and stop the cluster.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== building (release)"
cargo build --release --workspace --bins --quiet
export PATH="$PWD/target/release:$PATH"

DIR=$(mktemp -d "${TMPDIR:-/tmp}/granary-demo.XXXXXX")
export GRANARY_CLUSTER_DIR="$DIR/cluster"   # the CLI finds this cluster's namenode through it
cleanup() {
  granary cluster down >/dev/null 2>&1 || true
  rm -rf "$DIR"
}
trap cleanup EXIT

echo "== starting a namenode and 3 datanodes (16 MiB blocks so a small file spans several)"
granary cluster up --datanodes 3 --port 0 --block-size 16M
granary cluster status

echo "== generating a 100 MiB file"
head -c $((100 * 1024 * 1024)) /dev/urandom > "$DIR/sample.bin"
LOCAL_SUM=$(sha256sum "$DIR/sample.bin" | cut -d' ' -f1)

echo "== put"
granary fs mkdir -p /demo
granary fs put "$DIR/sample.bin" /demo/sample.bin
granary fs ls -R /

echo "== its blocks and where their replicas are"
granary fs stat /demo/sample.bin

echo "== get it back and verify"
granary fs get /demo/sample.bin "$DIR/back.bin"
BACK_SUM=$(sha256sum "$DIR/back.bin" | cut -d' ' -f1)
echo "local  sha256 $LOCAL_SUM"
echo "got    sha256 $BACK_SUM"
if [ "$LOCAL_SUM" != "$BACK_SUM" ]; then
  echo "MISMATCH: the file did not round-trip" >&2
  exit 1
fi
echo "verified: byte-identical"

echo "== cluster report"
granary admin report

echo "== compute on the data: the five most popular URLs of a 64 MiB nginx access log"
granary-datagen access-log 64M > "$DIR/access.log"
head -2 "$DIR/access.log"
granary fs put "$DIR/access.log" /demo/access.log
# Like awk '{print $7}' | sort | uniq -c | sort -rn | head -5, with maps run where the blocks are.
granary job run --input /demo/access.log --output /demo/top-urls --builtin count-field --field 7 --top 5

echo "== failure drill: add a 4th datanode, then SIGKILL one and watch the cluster heal"
granary cluster up --datanodes 4
granary drill --kill 1
granary admin fsck /

echo "== stopping the cluster"
granary cluster down
