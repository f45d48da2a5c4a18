#!/usr/bin/env bash
# Konsult's benchmarks: builds release once, runs every scenario against Konsult and the
# baseline in the same run, REPS times each, and prints the median with the spread (min..max)
# of every figure. The raw summaries stay in $OUT/*.txt.
#
#   bench/run.sh                      # the issue 8 scale (19,000 idle clients, 10,000 members)
#   IDLE=2000 MEMBERS=1000 SUSTAIN=10 REPS=3 bench/run.sh     # a quicker pass
#   ONLY="idle rtt" bench/run.sh      # some scenarios only
#   ONLY="forward join" SUBSCRIBERS="50 100" bench/run.sh     # rows f and g, fewer subscribers
#   ONLY=chat PG_URL=postgres://postgres@127.0.0.1:5432/konsult_bench bench/run.sh
#                                     # row d on SQLite and on PostgreSQL (an empty database)
#   ONLY=cluster REPS=1 bench/run.sh  # row h: three nodes on PostgreSQL and Redis (not in the
#                                     # default list: it needs both services, see PG_SERVER and
#                                     # REDIS_URL; the run makes its own database and key prefix
#                                     # and removes them at the end)
#
# Needs: Linux (/proc), `ulimit -n` of 20,000 (every process of the load generator and the
# servers inherits this shell's limit).
set -euo pipefail
cd "$(dirname "$0")/.."

REPS=${REPS:-3}
IDLE=${IDLE:-19000}
MEMBERS=${MEMBERS:-10000}
SUSTAIN=${SUSTAIN:-60}
RATE=${RATE:-100000}
STUDENTS=${STUDENTS:-2000}
TEACHERS=${TEACHERS:-100}
SUBSCRIBERS=${SUBSCRIBERS:-"50 100 300"}
JOINERS=${JOINERS:-200}
MEDIA_SECS=${MEDIA_SECS:-20}
ONLY=${ONLY:-"hub idle rtt fanout chat pairing forward join"}
OUT=${OUT:-target/bench-results/$(date -u +%Y%m%dT%H%M%SZ)}
DATA=${DATA:-${TMPDIR:-/tmp}/konsult-bench-data}
# Row d again with the store in this PostgreSQL database, when set.
PG_URL=${PG_URL:-}
# Row h: the cluster's size, and the services it shares.
CLUSTER_CLIENTS=${CLUSTER_CLIENTS:-20000}
CLUSTER_SCHOOLS=${CLUSTER_SCHOOLS:-100}
CLUSTER_SOURCES=${CLUSTER_SOURCES:-64}
# More `konsult-load cluster` options, such as "--heartbeat-ms 1000 --lease-ms 5000".
CLUSTER_EXTRA=${CLUSTER_EXTRA:-}
PG_SERVER=${PG_SERVER:-postgres://postgres@127.0.0.1:5432/postgres}
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}

ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
echo "fd limit: $(ulimit -n); results in $OUT" >&2
cargo build --release -p konsult-server -p konsult-bench
mkdir -p "$OUT"
LOAD=target/release/konsult-load
COMMON=(--konsult-bin target/release/konsult --baseline-bin target/release/konsult-baseline
        --data "$DATA" --sources 16)

{
  echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo), $(uname -sr)"
  echo "cpu: $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
  echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo "params: REPS=$REPS IDLE=$IDLE MEMBERS=$MEMBERS SUSTAIN=$SUSTAIN RATE=$RATE STUDENTS=$STUDENTS TEACHERS=$TEACHERS SUBSCRIBERS=\"$SUBSCRIBERS\" JOINERS=$JOINERS MEDIA_SECS=$MEDIA_SECS CLUSTER_CLIENTS=$CLUSTER_CLIENTS CLUSTER_SCHOOLS=$CLUSTER_SCHOOLS CLUSTER_SOURCES=$CLUSTER_SOURCES CLUSTER_EXTRA=\"$CLUSTER_EXTRA\""
  echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$OUT/machine.txt" >&2

# run NAME ARGS...: REPS runs of one scenario, appended to $OUT/NAME.txt.
run() {
  local name=$1; shift
  for rep in $(seq 1 "$REPS"); do
    echo "--- $name, run $rep of $REPS: $LOAD $*" >&2
    "$LOAD" "$@" | tee -a "$OUT/$name.txt"
  done
}

wants() { [[ " $ONLY " == *" $1 "* ]]; }

if wants hub; then
  run hub hub --students "$STUDENTS" --teachers "$TEACHERS" --secs 5
fi
if wants idle; then
  for target in konsult baseline; do
    run "idle-$target" idle "${COMMON[@]}" --target "$target" --clients "$IDLE" --hold-secs 10
  done
fi
if wants rtt; then
  for target in konsult baseline; do
    run "rtt-ping-$target" rtt "${COMMON[@]}" --target "$target" --idle "$IDLE" \
      --rate 2000 --clients 100 --secs 20 --request ping
  done
  run "rtt-list_teachers-konsult" rtt "${COMMON[@]}" --target konsult --idle "$IDLE" \
    --rate 2000 --clients 100 --secs 20 --request list_teachers
fi
if wants fanout; then
  # Row c is a chat message; the baseline speaks only presence, so both are measured with it.
  run fanout-konsult-chat fanout "${COMMON[@]}" --target konsult --members "$MEMBERS" \
    --rounds 20 --rate "$RATE" --sustain-secs "$SUSTAIN" --broadcast chat
  for target in konsult baseline; do
    run "fanout-$target" fanout "${COMMON[@]}" --target "$target" --members "$MEMBERS" \
      --rounds 20 --rate "$RATE" --sustain-secs "$SUSTAIN" --broadcast presence
  done
fi
if wants chat; then
  run chat-group-commit chat "${COMMON[@]}" --target konsult --senders 1000 --rate 20000 --secs 10
  run chat-one-commit chat "${COMMON[@]}" --target konsult --senders 1 --closed-loop --secs 5
  if [ -n "$PG_URL" ]; then
    ON_PG=(--konsult-bin target/release/konsult --data "$DATA-postgres" --sources 16
           --store-url "$PG_URL")
    run chat-group-commit-postgres chat "${ON_PG[@]}" --target konsult --senders 1000 \
      --rate 20000 --secs 10
    run chat-one-commit-postgres chat "${ON_PG[@]}" --target konsult --senders 1 \
      --closed-loop --secs 5
  fi
fi
if wants pairing; then
  run pairing pairing "${COMMON[@]}" --target konsult --students "$STUDENTS" \
    --teachers "$TEACHERS" --subjects 4
fi
if wants forward; then
  for n in $SUBSCRIBERS; do
    for target in konsult baseline; do
      run "forward-$n-$target" forward "${COMMON[@]}" --target "$target" --subscribers "$n" \
        --secs "$MEDIA_SECS"
    done
  done
fi
if wants join; then
  run join join "${COMMON[@]}" --target konsult --members "$JOINERS" --secs 5
fi
if wants cluster; then
  run cluster cluster --konsult-bin target/release/konsult --data "$DATA" \
    --sources "$CLUSTER_SOURCES" --clients "$CLUSTER_CLIENTS" --schools "$CLUSTER_SCHOOLS" \
    --postgres "$PG_SERVER" --redis "$REDIS_URL" $CLUSTER_EXTRA
fi

# Medians and spread: one line per figure and run (the file name says scenario and target).
echo
echo "== medians of $REPS runs (min..max) =="
awk '/^figure / { run = FILENAME; sub(/.*\//, "", run); sub(/\.txt$/, "", run)
                  print $2 " " run " " $4 " " $5 }' "$OUT"/*.txt |
  sort -k1,1 -k2,2 -k3,3g |
  awk '
    function flush() {
      if (n == 0) return
      median = (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
      printf "%-40s %-26s %12.3f  (%.3f .. %.3f, n=%d) %s\n", key, run, median, v[1], v[n], n, unit
      n = 0
    }
    { if ($1 != key || $2 != run) { flush(); key = $1; run = $2 }
      v[++n] = $3; unit = $4 }
    END { flush() }' | tee "$OUT/medians.txt"
