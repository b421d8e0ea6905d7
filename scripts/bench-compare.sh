#!/usr/bin/env bash
# Benchmarks two builds in one run, so both see the same machine:
#
#   scripts/bench-compare.sh BASE_REV [fs|heal|job|all]
#
# BASE_REV is checked out in a worktree of its own (BASE_DIR, default a new temporary directory,
# removed at the end unless BASE_DIR was given: pass an existing one to reuse its release build).
# Then each section of scripts/bench.sh runs for the base and for this checkout in turn, base
# first, and both tables are printed one after the other, with the log of every run kept in
# OUT_DIR (default a new temporary directory).
set -euo pipefail
cd "$(dirname "$0")/.."

[ $# -ge 1 ] || { echo "usage: scripts/bench-compare.sh BASE_REV [fs|heal|job|all]" >&2; exit 2; }
base_rev=$1
what=${2:-all}
case "$what" in
  fs|heal|job) sections=("$what") ;;
  all) sections=(fs heal job) ;;
  *) echo "usage: scripts/bench-compare.sh BASE_REV [fs|heal|job|all]" >&2; exit 2 ;;
esac
git rev-parse --verify --quiet "$base_rev^{commit}" >/dev/null \
  || { echo "bench-compare: unknown revision $base_rev" >&2; exit 2; }

OUT_DIR=${OUT_DIR:-$(mktemp -d /tmp/granary-compare.XXXXXX)}
mkdir -p "$OUT_DIR"
if [ -n "${BASE_DIR:-}" ]; then
  [ -x "$BASE_DIR/scripts/bench.sh" ] || { echo "bench-compare: $BASE_DIR is not a checkout" >&2; exit 2; }
  [ "$(git -C "$BASE_DIR" rev-parse HEAD)" = "$(git rev-parse "$base_rev^{commit}")" ] \
    || { echo "bench-compare: $BASE_DIR is not at $base_rev" >&2; exit 2; }
else
  BASE_DIR=$(mktemp -d /tmp/granary-base.XXXXXX)
  git worktree add --detach --quiet "$BASE_DIR" "$base_rev"
  trap 'git worktree remove --force "$BASE_DIR"' EXIT
fi

head_rev=$(git rev-parse --short HEAD)
base_short=$(git rev-parse --short "$base_rev")
for section in "${sections[@]}"; do
  echo "== $section: before ($base_short)"
  (cd "$BASE_DIR" && scripts/bench.sh "$section") | tee "$OUT_DIR/before-$section.log"
  echo "== $section: after ($head_rev$(git diff --quiet HEAD || echo ', with uncommitted changes'))"
  scripts/bench.sh "$section" | tee "$OUT_DIR/after-$section.log"
done
echo
echo "logs in $OUT_DIR"
