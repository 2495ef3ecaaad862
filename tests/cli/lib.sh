# Shared helpers of the CLI test scripts (sourced). Each script: `source lib.sh "$bin"`, then
# cases, then `finish`.
set -u
bin="$1"
dir=$(mktemp -d)
trap 'chmod -R u+w "$dir" 2>/dev/null; rm -rf "$dir"' EXIT
fails=0; passes=0

# expect_error NAME FRAGMENT CMD...: exit code 2, exactly one line on stderr, containing FRAGMENT.
expect_error() {
  local name="$1" frag="$2"; shift 2
  local err rc lines
  err=$("$@" 2>&1 >/dev/null); rc=$?
  lines=$(printf '%s\n' "$err" | grep -c .)
  if [ "$rc" -eq 2 ] && [ "$lines" -eq 1 ] && printf '%s' "$err" | grep -qF -- "$frag"; then
    passes=$((passes + 1))
  else
    echo "FAIL $name: rc=$rc lines=$lines stderr: $(printf '%s' "$err" | head -c 600)"; fails=$((fails + 1))
  fi
}
check() {  # check NAME CONDITION...
  local name="$1"; shift
  if "$@" > /dev/null 2>&1; then passes=$((passes + 1)); else echo "FAIL $name"; fails=$((fails + 1)); fi
}
# error_table PREFIX...: reads "name | fragment | arguments" rows from stdin (# comments, blank
# lines skipped); each row runs PREFIX plus its arguments (shell words, quotes allowed) and
# must fail with exit code 2 and a one-line error containing the fragment.
error_table() {
  local name frag args
  while IFS='|' read -r name frag args; do
    name=$(echo "$name" | xargs); [ -z "$name" ] && continue; case "$name" in \#*) continue;; esac
    frag=$(echo "$frag" | sed 's/^ *//; s/ *$//')
    eval "set -- $args"
    expect_error "$name" "$frag" "${prefix[@]}" "$@" < /dev/null  # the table itself is on stdin
  done
}
# A small, clean series: 400 days of a noisy sine (ok.csv: price, volume).
make_ok_csv() {
  python3 - "$1" <<'PY'
import datetime, math, sys
day = datetime.date(2020, 1, 1)
with open(sys.argv[1], "w") as f:
    f.write("date,price,volume\n")
    for i in range(400):
        f.write(f"{day + datetime.timedelta(days=i)},{100 + 10 * math.sin(i / 7) + (i % 5) * 0.1:.4f},{1000 + i}\n")
PY
}
finish() {
  echo "$passes passed, $fails failed"
  [ "$fails" -eq 0 ]
}
