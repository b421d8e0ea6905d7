# Sourced by scripts/bench.sh: `bench_job`, the compute benchmark.
#
# On a local 3-datanode cluster (128 MiB blocks, replication 3): a deterministic 2 GiB access
# log, a 1 GiB word corpus and 1 GiB of 100-byte records are put, then each job runs next to the
# single-machine pipeline it replaces, on the same local file:
#   count-field --field 7 --top 5  vs  awk '{print $7}' | sort | uniq -c | sort -rn | head -5
#   wordcount                      vs  tr -s ' ' '\n' | sort | uniq -c
#   sort (output replication 1)    vs  sort --parallel=2
# Every pipeline runs with LC_ALL=C (bytewise, its fastest). Environment: LOG_MIB (2048),
# WORDS_MIB (1024), RECORDS_MIB (1024).

# Median seconds of a job over $RUNS runs; the last run's status JSON is left in
# $WORK/<name>.json (read it with `job_json <name>`).
job_seconds() {
  local name=$1; shift
  local -a times
  for run in $(seq "$RUNS"); do
    local start end
    start=$(now)
    granary job run --output "/bench-out/$name-$run" --json "$@" > "$WORK/$name.json"
    end=$(now)
    [ "$(json_field state < "$WORK/$name.json")" = succeeded ] || { echo "job $name failed: $(cat "$WORK/$name.json")" >&2; exit 1; }
    times+=("$(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.3f\n", e - s }')")
  done
  printf '%s\n' "${times[@]}" | median
}

# Median seconds of a shell pipeline over $RUNS runs, caches warm as for the jobs.
pipeline_seconds() {
  local -a times
  for run in $(seq "$RUNS"); do
    times+=("$(seconds sh -c "$1")")
  done
  printf '%s\n' "${times[@]}" | median
}

job_json() { cat "$WORK/$1.json"; }

bench_job() {
  local log_mib=${LOG_MIB:-2048} words_mib=${WORDS_MIB:-1024} records_mib=${RECORDS_MIB:-1024}
  export GRANARY_CLUSTER_DIR="$WORK/job-cluster"
  echo "== cluster: 1 namenode, 3 datanodes, 128 MiB blocks, replication 3 ($WORK)"
  granary cluster up --datanodes 3 --port 0 >/dev/null

  echo "== generating ${log_mib} MiB access log, ${words_mib} MiB words, ${records_mib} MiB records"
  granary-datagen access-log "${log_mib}M" --seed 1 > "$WORK/access.log"
  granary-datagen words "${words_mib}M" --seed 2 > "$WORK/words.txt"
  granary-datagen records "${records_mib}M" --seed 3 > "$WORK/records.txt"
  local log_bytes words_bytes records_bytes
  log_bytes=$(stat -c %s "$WORK/access.log")
  words_bytes=$(stat -c %s "$WORK/words.txt")
  records_bytes=$(stat -c %s "$WORK/records.txt")

  echo "== put (replication 3)"
  granary fs mkdir -p /bench
  granary fs put -r 3 "$WORK/access.log" /bench/access.log
  granary fs put -r 3 "$WORK/words.txt" /bench/words.txt
  granary fs put -r 3 "$WORK/records.txt" /bench/records.txt

  echo "== count-field vs awk | sort | uniq -c"
  local cf cf_local cf_remote cf_maps awk_t
  cf=$(job_seconds count-field --input /bench/access.log --builtin count-field --field 7 --top 5)
  cf_local=$(job_json count-field | json_field counters data_local_maps)
  cf_remote=$(job_json count-field | json_field counters remote_maps)
  cf_maps=$(job_json count-field | json_field maps_total)
  awk_t=$(pipeline_seconds "LC_ALL=C awk '{print \$7}' '$WORK/access.log' | LC_ALL=C sort | uniq -c | LC_ALL=C sort -rn | head -5")

  echo "== wordcount vs tr | sort | uniq -c"
  local wc wc_local wc_maps tr_t
  wc=$(job_seconds wordcount --input /bench/words.txt --builtin wordcount)
  wc_local=$(job_json wordcount | json_field counters data_local_maps)
  wc_maps=$(job_json wordcount | json_field maps_total)
  tr_t=$(pipeline_seconds "LC_ALL=C tr -s ' ' '\n' < '$WORK/words.txt' | LC_ALL=C sort | uniq -c")

  echo "== sort vs sort --parallel=2"
  local st st_local st_maps gnu_t
  st=$(job_seconds sort --input /bench/records.txt --builtin sort --replication 1)
  st_local=$(job_json sort | json_field counters data_local_maps)
  st_maps=$(job_json sort | json_field maps_total)
  gnu_t=$(pipeline_seconds "LC_ALL=C sort --parallel=2 -o '$WORK/sorted.txt' '$WORK/records.txt'")
  rm -f "$WORK/sorted.txt"

  job_mbps() { awk -v b="$1" -v s="$2" 'BEGIN { printf "%.0f", b / 1e6 / s }'; }
  speedup() { ratio "$1" "$2"; }
  echo
  echo "## job benchmark: 3 datanodes on $(nproc) cores, median of $RUNS, warm caches"
  echo
  echo "| job | input | seconds | MB/s | baseline | baseline s | speed-up | target | verdict | data-local maps |"
  echo "|---|---|---|---|---|---|---|---|---|---|"
  echo "| count-field --field 7 --top 5 | ${log_mib} MiB log | $cf | $(job_mbps "$log_bytes" "$cf") | awk \| sort \| uniq -c \| sort -rn \| head | $awk_t | $(speedup "$awk_t" "$cf")× | ≥ 3× | $(verdict "$(speedup "$awk_t" "$cf")" 3) | $cf_local/$cf_maps (remote $cf_remote) |"
  echo "| wordcount | ${words_mib} MiB words | $wc | $(job_mbps "$words_bytes" "$wc") | tr \| sort \| uniq -c | $tr_t | $(speedup "$tr_t" "$wc")× | ≥ 8× | $(verdict "$(speedup "$tr_t" "$wc")" 8) | $wc_local/$wc_maps |"
  echo "| sort (output replication 1) | ${records_mib} MiB records | $st | $(job_mbps "$records_bytes" "$st") | sort --parallel=2 | $gnu_t | $(speedup "$gnu_t" "$st")× | ≥ 1× | $(verdict "$(speedup "$gnu_t" "$st")" 1) | $st_local/$st_maps |"
  granary cluster down >/dev/null
}
