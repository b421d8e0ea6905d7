# Sourced by scripts/bench.sh: `bench_job_faults`, jobs under faults (run by `bench.sh job`
# after `bench_job`, whose access log it reuses).
#
# On a local 4-datanode cluster, `count-field --field 7 --top 5` over the access log:
#   fault-free; with one datanode SIGKILLed once half the maps are done (then brought back);
#   and on a cluster whose 4th datanode runs its tasks 5x slower (GRANARY_TASK_SLOWDOWN=5),
#   with speculation and with --no-speculation.
# Each is reported as a ratio to the fault-free time, and every faulty run's output is checked
# against the fault-free one.

# The job's output, sorted, as one SHA-256: equal for equal results whatever the part files.
output_digest() {
  local parts
  parts=$(granary fs ls --json "$1" | python3 -c '
import json, sys
print(" ".join(e["path"] for e in json.load(sys.stdin) if e["path"].rsplit("/", 1)[-1].startswith("part-")))')
  # shellcheck disable=SC2086 # one argument per part file
  granary fs cat $parts | LC_ALL=C sort | sha256sum | cut -d' ' -f1
}

datanode_pid() {
  granary cluster status --json | json_field datanodes "$1" pid
}

# Runs the count-field job to /bench-out/$1, SIGKILLs datanode $2 once half its maps are done,
# and prints the seconds it took; the node is brought back afterwards.
killed_run() {
  local out=$1 victim_pid start end job_pid
  victim_pid=$(datanode_pid "$2")
  start=$(now)
  granary job run --output "/bench-out/$out" --json --input /bench/access.log \
    --builtin count-field --field 7 --top 5 > "$WORK/$out.json" &
  job_pid=$!
  # Polled 5 times a second with one CLI call and no interpreter, so watching the job takes
  # next to nothing from the 2 cores the job runs on.
  local done_total
  for _ in $(seq 600); do
    sleep 0.2
    done_total=$(granary job list --json | tr -d ' \n' \
      | grep -o "\"output\":\"/bench-out/$out\",\"maps_total\":[0-9]*,\"maps_done\":[0-9]*" \
      | sed 's/.*"maps_total":\([0-9]*\),"maps_done":\([0-9]*\)/\2 \1/' || true)
    [ -n "$done_total" ] || continue
    set -- $done_total
    [ "$1" -ge 1 ] && [ $(( $1 * 2 )) -ge "$2" ] && break
  done
  kill -9 "$victim_pid"
  wait "$job_pid"
  end=$(now)
  [ "$(json_field state < "$WORK/$out.json")" = succeeded ] || { echo "job $out failed: $(cat "$WORK/$out.json")" >&2; exit 1; }
  granary cluster up >/dev/null
  awk -v s="$start" -v e="$end" 'BEGIN { printf "%.3f\n", e - s }'
}

bench_job_faults() {
  local -a killed spec nospec
  local t0 reference digest failed_total=0 spec_attempts=0
  export GRANARY_CLUSTER_DIR="$WORK/fault-cluster"
  echo "== cluster: 4 datanodes; the access log at replication 3"
  granary cluster up --datanodes 4 --port 0 >/dev/null
  granary fs mkdir -p /bench
  granary fs put -r 3 "$WORK/access.log" /bench/access.log
  t0=$(job_seconds faultfree --input /bench/access.log --builtin count-field --field 7 --top 5)
  reference=$(output_digest "/bench-out/faultfree-1")

  echo "== one of 4 datanodes SIGKILLed at 50% of the maps"
  for run in $(seq "$RUNS"); do
    killed+=("$(killed_run "killed-$run" $(( run % 4 )))")
    digest=$(output_digest "/bench-out/killed-$run")
    [ "$digest" = "$reference" ] || { echo "output after a kill differs from the fault-free output" >&2; exit 1; }
    failed_total=$(( failed_total + $(json_field counters failed_attempts < "$WORK/killed-$run.json") ))
  done
  granary cluster down >/dev/null

  echo "== one of 4 datanodes 5x slower"
  export GRANARY_CLUSTER_DIR="$WORK/slow-cluster"
  granary cluster up --datanodes 3 --port 0 >/dev/null
  GRANARY_TASK_SLOWDOWN=5 granary cluster up --datanodes 4 >/dev/null
  granary fs mkdir -p /bench
  granary fs put -r 3 "$WORK/access.log" /bench/access.log
  local t_spec t_nospec
  t_spec=$(job_seconds slow-spec --input /bench/access.log --builtin count-field --field 7 --top 5)
  spec_attempts=$(job_json slow-spec | json_field counters speculative_attempts)
  [ "$(output_digest /bench-out/slow-spec-1)" = "$reference" ] || { echo "output with a slow node differs" >&2; exit 1; }
  t_nospec=$(job_seconds slow-nospec --input /bench/access.log --builtin count-field --field 7 --top 5 --no-speculation)
  granary cluster down >/dev/null

  local t_killed
  t_killed=$(printf '%s\n' "${killed[@]}" | median)
  fault_ratio() { ratio "$1" "$t0"; }
  echo
  echo "## jobs under faults: count-field --field 7 --top 5, 4 datanodes, median of $RUNS"
  echo
  echo "| run | seconds | ratio to fault-free | target | verdict | notes |"
  echo "|---|---|---|---|---|---|"
  echo "| fault-free | $t0 | 1.00 | | | |"
  echo "| 1 datanode SIGKILLed at 50% of maps | $t_killed | $(fault_ratio "$t_killed") | ≤ 1.5 | $(at_most "$(fault_ratio "$t_killed")" 1.5) | output identical; $failed_total failed attempts over $RUNS runs |"
  echo "| 1 datanode 5x slower, speculation on | $t_spec | $(fault_ratio "$t_spec") | ≤ 1.3 | $(at_most "$(fault_ratio "$t_spec")" 1.3) | output identical; $spec_attempts speculative attempts (last run) |"
  echo "| 1 datanode 5x slower, --no-speculation | $t_nospec | $(fault_ratio "$t_nospec") | | | |"
}
