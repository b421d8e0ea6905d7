#!/usr/bin/env bash
# Benchmarks (never run as tests). Usage: scripts/bench.sh fs|heal|job|all
#
#   fs   on a local 3-datanode cluster (128 MiB blocks): put and get of a 1 GiB file at
#        replication 1 and 3 next to the local disk (cp + sync, cat > /dev/null), the same
#        file built by 64 appends at replication 3 next to put, the time from a writer's
#        SIGKILL to its file recovered (recover-lease --wait), namenode
#        metadata ops/s with 16 concurrent clients next to a call that does no work (GET
#        /v1/health), and peak RSS of the namenode and a datanode.
#   heal on a local 4-datanode cluster holding 1 GiB at replication 3 (8 files of 128 MiB):
#        kill -9 of the datanode holding the most of it, then the time until fsck is HEALTHY
#        with full replication, split into detection and copy, and the copy throughput.
#   job  on a local 3-datanode cluster: count-field, wordcount and sort jobs next to the GNU
#        pipelines they replace (scripts/bench/job.sh); then count-field on 4 datanodes with
#        one killed mid-job and with one 5x slower (scripts/bench/faults.sh).
#
# Each figure is the median of RUNS runs (default 3). Caches are dropped before every read
# when the machine allows it (root), so reads are cold; the table says which.
# Environment: RUNS, SIZE_MIB (default 1024), BENCH_DIR (default /tmp), META_FILES (per client).
set -euo pipefail
cd "$(dirname "$0")/.."

what=${1:-fs}
RUNS=${RUNS:-3}
SIZE_MIB=${SIZE_MIB:-1024}
META_CLIENTS=16
META_FILES=${META_FILES:-2000}
APPEND_PIECES=64

cargo build --release --workspace --bins --quiet
export PATH="$PWD/target/release:$PATH"
WORK=$(mktemp -d "${BENCH_DIR:-/tmp}/granary-bench.XXXXXX")
export GRANARY_CLUSTER_DIR="$WORK/cluster"
# Every cluster a benchmark started lives under $WORK; stop them all, whatever failed.
cleanup() {
  for state in "$WORK"/*/cluster.json; do
    [ -e "$state" ] && granary cluster down --dir "$(dirname "$state")" >/dev/null 2>&1
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

CACHE=warm
drop_caches() {
  sync
  if echo 3 > /proc/sys/vm/drop_caches 2>/dev/null; then CACHE=cold; else CACHE=warm; fi
}
now() { date +%s.%N; }
# Seconds taken by a command (its output discarded).
seconds() {
  local start end
  start=$(now)
  "$@" >/dev/null
  end=$(now)
  awk -v s="$start" -v e="$end" 'BEGIN { printf "%.3f\n", e - s }'
}
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
mbps() { awk -v mib="$SIZE_MIB" -v s="$1" 'BEGIN { printf "%.0f", mib * 1.048576 / s }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
peak_rss_mib() { awk '/VmHWM/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }
verdict() { awk -v v="$1" -v t="$2" 'BEGIN { print (v >= t ? "meets" : "MISSES") }'; }
at_most() { awk -v v="$1" -v t="$2" 'BEGIN { print (v <= t ? "meets" : "MISSES") }'; }
# A field of the JSON on stdin, by keys and list indexes: json_field datanodes 0 pid
json_field() {
  python3 -c 'import json, sys
d = json.load(sys.stdin)
for k in sys.argv[1:]:
    d = d[int(k)] if isinstance(d, list) else d[k]
print(d)' "$@"
}

# Seconds from the SIGKILL of a `granary fs put` that is mid-file (its first block committed,
# its second being written, its third being spooled from a FIFO) until `granary fs
# recover-lease --wait` answers the file closed.
recovery_seconds() {
  local fifo="$WORK/put.fifo" put_pid length=0 start end
  mkfifo "$fifo"
  granary fs put "$fifo" /bench-recover &
  put_pid=$!
  exec 3> "$fifo"
  head -c $((300 * 1024 * 1024)) "$WORK/src.bin" >&3
  # Visible once the second block is allocated (its 128 MiB spooled): the first one is
  # committed then.
  for _ in $(seq 600); do
    length=$(granary fs stat --json /bench-recover 2>/dev/null | json_field length || echo 0)
    [ "$length" -ge $((128 * 1024 * 1024)) ] && break
    sleep 0.1
  done
  [ "$length" -ge $((128 * 1024 * 1024)) ] || { echo "the put never wrote its first block" >&2; exit 1; }
  start=$(now)
  kill -9 "$put_pid"
  wait "$put_pid" 2>/dev/null || true
  exec 3>&-
  granary fs recover-lease --wait /bench-recover >/dev/null
  end=$(now)
  granary fs rm -skipTrash /bench-recover >/dev/null
  rm -f "$fifo"
  awk -v s="$start" -v e="$end" 'BEGIN { printf "%.3f\n", e - s }'
}

bench_fs() {
  echo "== cluster: 1 namenode, 3 datanodes, 128 MiB blocks ($WORK)"
  granary cluster up --datanodes 3 --port 0 >/dev/null
  local status nn_pid dn_pid
  status=$(granary cluster status --json)
  nn_pid=$(echo "$status" | json_field namenode pid)
  dn_pid=$(echo "$status" | json_field datanodes 0 pid)

  echo "== generating a $SIZE_MIB MiB file"
  head -c $((SIZE_MIB * 1024 * 1024)) /dev/urandom > "$WORK/src.bin"
  sync

  local -a lw lr p1 g1 p3 g3
  for run in $(seq "$RUNS"); do
    echo "-- run $run/$RUNS"
    lw+=("$(seconds sh -c "cp '$WORK/src.bin' '$WORK/copy.bin' && sync")")
    rm -f "$WORK/copy.bin"
    drop_caches
    lr+=("$(seconds cat "$WORK/src.bin")")
    for r in 1 3; do
      local t_put t_get
      t_put=$(seconds granary fs put -r "$r" "$WORK/src.bin" "/bench-r$r")
      drop_caches
      t_get=$(seconds granary fs get "/bench-r$r" "$WORK/back.bin")
      cmp -s "$WORK/src.bin" "$WORK/back.bin" || { echo "get returned different bytes" >&2; exit 1; }
      rm -f "$WORK/back.bin"
      granary fs rm -skipTrash "/bench-r$r" >/dev/null
      if [ "$r" = 1 ]; then p1+=("$t_put"); g1+=("$t_get"); else p3+=("$t_put"); g3+=("$t_get"); fi
    done
  done

  echo "== append: the file again as $APPEND_PIECES appends of $((SIZE_MIB / APPEND_PIECES)) MiB at replication 3, $RUNS runs"
  local -a ap rc
  mkdir -p "$WORK/pieces"
  split -b $((SIZE_MIB / APPEND_PIECES))M "$WORK/src.bin" "$WORK/pieces/p."
  sync
  for run in $(seq "$RUNS"); do
    granary fs put -r 3 /dev/null /bench-append
    ap+=("$(seconds sh -c 'for piece in "$1"/p.*; do granary fs append "$piece" /bench-append || exit 1; done' sh "$WORK/pieces")")
    granary fs get /bench-append "$WORK/back.bin"
    cmp -s "$WORK/src.bin" "$WORK/back.bin" || { echo "appends built different bytes" >&2; exit 1; }
    rm -f "$WORK/back.bin"
    granary fs rm -skipTrash /bench-append >/dev/null
    rc+=("$(recovery_seconds)")
  done
  rm -rf "$WORK/pieces"

  echo "== metadata: $META_CLIENTS clients x $META_FILES empty files, $RUNS runs"
  local url meta
  local -a mh mc mr ml md
  url=$(echo "$status" | json_field namenode url)
  for run in $(seq "$RUNS"); do
    meta=$(granary-meta-bench --namenode "$url" --clients "$META_CLIENTS" --files "$META_FILES")
    mh+=("$(echo "$meta" | awk '/^health_calls_per_sec/ { print $2 }')")
    mc+=("$(echo "$meta" | awk '/^create_ops_per_sec/ { print $2 }')")
    mr+=("$(echo "$meta" | awk '/^create_complete_ops_per_sec/ { print $2 }')")
    ml+=("$(echo "$meta" | awk '/^list_ops_per_sec/ { print $2 }')")
    md+=("$(echo "$meta" | awk '/^delete_ops_per_sec/ { print $2 }')")
  done
  local health creates create_completes lists deletes
  health=$(printf '%s\n' "${mh[@]}" | median)
  creates=$(printf '%s\n' "${mc[@]}" | median); create_completes=$(printf '%s\n' "${mr[@]}" | median)
  lists=$(printf '%s\n' "${ml[@]}" | median); deletes=$(printf '%s\n' "${md[@]}" | median)

  local LW LR P1 G1 P3 G3
  LW=$(printf '%s\n' "${lw[@]}" | median); LR=$(printf '%s\n' "${lr[@]}" | median)
  P1=$(printf '%s\n' "${p1[@]}" | median); G1=$(printf '%s\n' "${g1[@]}" | median)
  P3=$(printf '%s\n' "${p3[@]}" | median); G3=$(printf '%s\n' "${g3[@]}" | median)
  local AP RC
  AP=$(printf '%s\n' "${ap[@]}" | median); RC=$(printf '%s\n' "${rc[@]}" | median)
  local lw_mb lr_mb
  lw_mb=$(mbps "$LW"); lr_mb=$(mbps "$LR")
  local put_target get_target
  put_target=$(awk -v w="$lw_mb" 'BEGIN { printf "%.0f", 0.6 * w / 3 }')
  get_target=$(awk -v r="$lr_mb" 'BEGIN { printf "%.0f", 0.35 * r }')

  echo
  echo "## fs benchmark: $SIZE_MIB MiB, median of $RUNS, reads $CACHE, $(nproc) cores"
  echo
  echo "| operation | seconds | MB/s | ratio to local | target | verdict |"
  echo "|---|---|---|---|---|---|"
  echo "| local write (cp + sync) | $LW | $lw_mb | 1.00 | | |"
  echo "| local read (cat > /dev/null) | $LR | $lr_mb | 1.00 | | |"
  echo "| put, replication 1 | $P1 | $(mbps "$P1") | $(ratio "$(mbps "$P1")" "$lw_mb") of write | | |"
  echo "| put, replication 3 | $P3 | $(mbps "$P3") | $(ratio "$(mbps "$P3")" "$lw_mb") of write | ≥ $put_target MB/s (0.6 × write ÷ 3) | $(verdict "$(mbps "$P3")" "$put_target") |"
  echo "| append, replication 3 ($APPEND_PIECES × $((SIZE_MIB / APPEND_PIECES)) MiB) | $AP | $(mbps "$AP") | $(ratio "$(mbps "$AP")" "$(mbps "$P3")") of put r3 | ≥ 0.8 × put r3 | $(verdict "$(ratio "$(mbps "$AP")" "$(mbps "$P3")")" 0.8) |"
  echo "| get, replication 1 | $G1 | $(mbps "$G1") | $(ratio "$(mbps "$G1")" "$lr_mb") of read | ≥ $get_target MB/s (0.35 × read) | $(verdict "$(mbps "$G1")" "$get_target") |"
  echo "| get, replication 3 | $G3 | $(mbps "$G3") | $(ratio "$(mbps "$G3")" "$lr_mb") of read | ≥ $get_target MB/s (0.35 × read) | $(verdict "$(mbps "$G3")" "$get_target") |"
  echo
  echo "| metadata ($META_CLIENTS clients, median of $RUNS) | ops/s | calls/s | calls/s ÷ baseline | target | verdict |"
  echo "|---|---|---|---|---|---|"
  echo "| baseline: a call that does no work (GET /v1/health) | $health | $health | 1.00 | | |"
  echo "| create (empty file: put of no bytes, one call) | $creates | $creates | $(ratio "$creates" "$health") | ≥ 20000 | $(verdict "$creates" 20000) |"
  echo "| create + complete (how a writer of data starts and ends) | $create_completes | $((create_completes * 2)) | $(ratio $((create_completes * 2)) "$health") | | |"
  echo "| list (directory of 100) | $lists | $lists | $(ratio "$lists" "$health") | | |"
  echo "| delete | $deletes | $deletes | $(ratio "$deletes" "$health") | | |"
  echo
  local nn_rss dn_rss
  nn_rss=$(peak_rss_mib "$nn_pid"); dn_rss=$(peak_rss_mib "$dn_pid")
  echo "| lease recovery (median of $RUNS) | seconds |"
  echo "|---|---|"
  echo "| writer SIGKILLed mid-block → recover-lease --wait answers closed | $RC |"
  echo
  echo "| process | peak RSS (MiB) | target | verdict |"
  echo "|---|---|---|---|"
  echo "| namenode | $nn_rss | | |"
  echo "| datanode 0 | $dn_rss | < 256 | $(awk -v v="$dn_rss" 'BEGIN { print (v < 256 ? "meets" : "MISSES") }') |"
  granary cluster down >/dev/null
}

bench_heal() {
  local -a detect total copy mbps
  for run in $(seq "$RUNS"); do
    echo "-- run $run/$RUNS: 4 datanodes, 1 GiB at replication 3, kill -9 of one"
    export GRANARY_CLUSTER_DIR="$WORK/heal-$run"
    granary cluster up --datanodes 4 --port 0 >/dev/null
    local out
    out=$(granary drill --kill 1 --files 8 --file-size 128M --timeout 300s --json)
    granary cluster down >/dev/null
    rm -rf "$GRANARY_CLUSTER_DIR"
    local verdict
    verdict=$(echo "$out" | json_field verdict)
    [ "$verdict" = PASS ] || { echo "drill failed: $out" >&2; exit 1; }
    detect+=("$(echo "$out" | json_field seconds_to_declare_removed)")
    total+=("$(echo "$out" | json_field seconds_to_full_replication)")
    copy+=("$(echo "$out" | python3 -c 'import json,sys; r=json.load(sys.stdin); print(r["seconds_to_full_replication"] - r["seconds_to_declare_removed"])')")
    mbps+=("$(echo "$out" | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["healing_mb_per_sec"] or 0))')")
    COPIED=$(echo "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["bytes_re_replicated"] // 1048576)')
  done
  local D T C M
  D=$(printf '%s\n' "${detect[@]}" | median); T=$(printf '%s\n' "${total[@]}" | median)
  C=$(printf '%s\n' "${copy[@]}" | median); M=$(printf '%s\n' "${mbps[@]}" | median)
  echo
  echo "## heal benchmark: kill -9 of 1 of 4 datanodes holding 1 GiB at replication 3, median of $RUNS"
  echo
  echo "| phase | seconds | target | verdict |"
  echo "|---|---|---|---|"
  echo "| detection (kill → declared dead) | $(printf '%.2f' "$D") | | |"
  echo "| copy (declared dead → full replication, ${COPIED} MiB re-replicated) | $(printf '%.2f' "$C") | | |"
  echo "| total (kill → fsck HEALTHY, fully replicated) | $(printf '%.2f' "$T") | ≤ 3.00 | $(awk -v t="$T" 'BEGIN { print (t <= 3 ? "meets" : "MISSES") }') |"
  echo "| copy throughput | $M MB/s | | |"
}

# shellcheck source=bench/job.sh
. scripts/bench/job.sh
# shellcheck source=bench/faults.sh
. scripts/bench/faults.sh

case "$what" in
  fs) bench_fs ;;
  heal) bench_heal ;;
  job) bench_job; bench_job_faults ;;
  all) bench_fs; bench_heal; bench_job; bench_job_faults ;;
  *) echo "usage: scripts/bench.sh fs|heal|job|all" >&2; exit 2 ;;
esac
