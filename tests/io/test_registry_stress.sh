#!/usr/bin/env bash
# The registry under concurrent use and killed writers (issue #16's acceptance):
#  1. WRITERS processes register MODELS models between them while READERS processes list, search,
#     get and load in a loop: every model present and loadable afterwards, `check` clean, and no
#     reader ever saw an error. Every other model carries a training checkpoint (two objects
#     written before its record commits).
#  2. KILLS times: a writer registering in a loop is killed with SIGKILL after a random 20-150 ms;
#     each time the registry opens, `check` passes (every committed model loadable) and no model
#     was lost; gc then removes what the killed writers left behind.
# Usage: test_registry_stress.sh path/to/registry_stress [MODELS=1000] [KILLS=50] [WRITERS=4] [READERS=4]
set -u
stress="$1"; models="${2:-1000}"; kills="${3:-50}"; writers="${4:-4}"; readers="${5:-4}"
dir=$(mktemp -d); trap 'rm -rf "$dir"' EXIT
db="$dir/reg.db"
fail() { echo "FAIL: $*"; exit 1; }
"$stress" writer "$db" 1 seed > /dev/null || fail "first writer"

pids=()
for r in $(seq 1 "$readers"); do "$stress" reader "$db" 6 > "$dir/reader$r.out" 2> "$dir/reader$r.err" & pids+=($!); done
per=$((models / writers))
for w in $(seq 1 "$writers"); do
  n=$per; [ "$w" -eq "$writers" ] && n=$((models - per * (writers - 1)))
  "$stress" writer "$db" "$n" "w$w" 2> "$dir/writer$w.err" & pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || fail "a writer or reader failed: $(cat "$dir"/*.err)"; done
for r in $(seq 1 "$readers"); do
  read -r ops loads < "$dir/reader$r.out"
  [ "${loads:-0}" -gt 0 ] || fail "reader $r loaded nothing (ops ${ops:-0})"
done
count=$("$stress" verify "$db" $((models + 1))) || fail "after $writers writers and $readers readers"
echo "concurrent: $models models by $writers writers, $readers readers ($(cat "$dir"/reader*.out | awk '{o += $1; l += $2} END {print o " searches, " l " loads"}')): all $count present, check clean"

for k in $(seq 1 "$kills"); do
  "$stress" writer "$db" 0 "k$k" 2> /dev/null &
  pid=$!
  sleep "$(awk -v s="$k" 'BEGIN { srand(s); printf "%.3f", 0.02 + rand() * 0.13 }')"
  kill -9 "$pid" 2> /dev/null; wait "$pid" 2> /dev/null
  now=$("$stress" verify "$db") || fail "after kill $k"
  [ "$now" -ge "$count" ] || fail "kill $k: $now records, $count before"
  count=$now
done
"$stress" writer "$db" 1 last > /dev/null || fail "a writer after the kills"
count=$((count + 1))
orphans() {
  python3 - "$db" <<'PY'
import glob, os, sqlite3, sys
db = sys.argv[1]
con = sqlite3.connect(db)
live = {r[0] + ".ntn" for r in con.execute("SELECT sha256 FROM models")}
live |= {r[0] + ".ckpt" for r in con.execute("SELECT checkpoint_sha256 FROM models WHERE checkpoint_sha256 != ''")}
files = glob.glob(db + ".objects/*/*")
print(sum(1 for f in files if ".tmp." in f or os.path.basename(f) not in live))
PY
}
left=$(orphans)
read -r removed temps < <("$stress" gc "$db") || fail "gc"
[ "$(orphans)" -eq 0 ] || fail "gc left $(orphans) unreferenced files"
[ "$((removed + temps))" -eq "$left" ] || fail "gc removed $removed + $temps files of $left"
"$stress" verify "$db" "$count" > /dev/null || fail "after gc"
echo "kills: $kills writers killed at random points, check clean after each; $count records; gc removed $removed objects and $temps temporaries the killed writers left"
