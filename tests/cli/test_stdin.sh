#!/usr/bin/env bash
# Hardening, class "stdin": predict --stream reads one value per line in the CSV reader's strict
# number form. Long lines are never split into several observations, hex / NUL / NaN / inf /
# double signs / float32 overflow are one-line errors naming stdin:LINE, and a forecast is
# never NaN. Usage: test_stdin.sh path/to/ntneural
source "$(dirname "$0")/lib.sh" "$1"
make_ok_csv "$dir/ok.csv"
"$bin" train --data "$dir/ok.csv" --columns price --input-size 24 --horizon 6 --mlp-units 8x8 --max-steps 5 \
  --batch 8 --quiet --out "$dir/m.ntn" > /dev/null || { echo "FAIL setup: cannot train"; exit 1; }
stream=("$bin" predict --model "$dir/m.ntn" --stream)
values() { for i in $(seq 1 "$1"); do echo "10$((i % 7)).5"; done; }  # n ordinary ticks

# stdin_error NAME FRAGMENT PRINTF_FORMAT: 23 good lines, then the bad one (line 24).
stdin_error() {
  { values 23; printf -- "$3"; } > "$dir/in.txt"
  expect_error "$1" "$2" sh -c "'${stream[0]}' predict --model '$dir/m.ntn' --stream < '$dir/in.txt'"
}
while IFS='|' read -r name frag fmt; do
  name=$(echo "$name" | xargs); [ -z "$name" ] && continue; case "$name" in \#*) continue;; esac
  frag=$(echo "$frag" | sed 's/^ *//; s/ *$//'); fmt=$(echo "$fmt" | sed 's/^ *//; s/ *$//')
  stdin_error "$name" "$frag" "$fmt"
done <<'T'
# name          | fragment                                        | bad line (printf format)
hex             | stdin:24: '0x10' is not a number                | 0x10\n
nul_byte        | stdin:24: '12?3' is not a number                | 12\0003\n
nan             | stdin:24: 'nan' is not a number                 | nan\n
inf             | stdin:24: 'inf' is not a number                 | inf\n
neg_inf         | stdin:24: '-inf' is not a number                | -inf\n
double_sign     | stdin:24: '+-95.5' is not a number              | +-95.5\n
text            | stdin:24: 'abc' is not a number                 | abc\n
two_values      | stdin:24: '1,2' is not a number                 | 1,2\n
trailing_text   | stdin:24: '1.5x' is not a number                | 1.5x\n
float_overflow  | stdin:24: value 1e39 is beyond float32          | 1e39\n
double_overflow | stdin:24: '1e400' is not a number               | 1e400\n
T

# A line longer than 4096 bytes is an error, never several observations.
{ values 23; head -c 5000 /dev/zero | tr '\0' '1'; echo; } > "$dir/long.txt"
expect_error long_line "stdin:24: line is longer than 4096 bytes" sh -c "'$bin' predict --model '$dir/m.ntn' --stream < '$dir/long.txt'"
# A 300-byte line (padding + one value) is ONE observation: exactly one forecast after 24 values.
{ values 23; printf '%290s101.5\n' ''; } > "$dir/pad.txt"
"${stream[@]}" < "$dir/pad.txt" > "$dir/pad.out"
check padded_line_one_forecast test "$(wc -l < "$dir/pad.out")" -eq 1
# CRLF, blank lines and a last line without '\n' are accepted; 30 values give 7 forecasts.
{ values 10 | sed 's/$/\r/'; echo; echo "  "; values 19; printf '101.25'; } > "$dir/crlf.txt"
"${stream[@]}" < "$dir/crlf.txt" > "$dir/crlf.out"
check crlf_blank_unterminated test "$(wc -l < "$dir/crlf.out")" -eq 7
check forecasts_finite python3 -c "
import math, sys
rows = [list(map(float, l.split(','))) for l in open(sys.argv[1])]
assert all(len(r) == 6 and all(math.isfinite(v) for v in r) for r in rows), rows" "$dir/crlf.out"
# --json lines name the input line of each forecast.
{ values 24; } | "${stream[@]}" --json > "$dir/j.out"
check json_names_line python3 -c "import json,sys; d=json.loads(open(sys.argv[1]).readline()); assert d['t'] == 24 and len(d['forecast']) == 6" "$dir/j.out"

# A carried state (an LSTM): the stream over all values, and the same stream saved after the first
# half with --state and resumed from it, print the same last forecast; with --state-every the file
# exists mid-stream. A damaged or foreign state file, --cache, or --state without --stream are
# one-line errors, and a refused state file is left as it was.
"$bin" train --data "$dir/ok.csv" --columns price --model lstm --input-size 24 --horizon 6 --hidden 8 \
  --set decoder_layers=0 --max-steps 5 --batch 8 --quiet --out "$dir/r.ntn" > /dev/null || { echo "FAIL setup: lstm"; exit 1; }
rstream=("$bin" predict --model "$dir/r.ntn" --stream)
values 100 > "$dir/all.txt"; head -n 50 "$dir/all.txt" > "$dir/a.txt"; tail -n 50 "$dir/all.txt" > "$dir/b.txt"
"${rstream[@]}" < "$dir/all.txt" | tail -n 1 > "$dir/whole.out"
"${rstream[@]}" --state "$dir/st.bin" < "$dir/a.txt" > /dev/null
"${rstream[@]}" --state "$dir/st.bin" < "$dir/b.txt" | tail -n 1 > "$dir/resumed.out"
check state_resume_equals_whole_stream cmp "$dir/whole.out" "$dir/resumed.out"
check state_resume_not_trivial test -s "$dir/resumed.out"
"${rstream[@]}" --state "$dir/st2.bin" --state-every 10 < "$dir/a.txt" > /dev/null
check state_every_written test -s "$dir/st2.bin"
cp "$dir/st.bin" "$dir/bad.bin"; printf '\x01' | dd of="$dir/bad.bin" bs=1 seek=40 conv=notrunc 2> /dev/null
cp "$dir/bad.bin" "$dir/bad.keep"
expect_error state_damaged "--state $dir/bad.bin: stream snapshot: checksum mismatch" sh -c "'$bin' predict --model '$dir/r.ntn' --stream --state '$dir/bad.bin' < '$dir/b.txt'"
check state_damaged_left_alone cmp "$dir/bad.bin" "$dir/bad.keep"
printf 'not a snapshot' > "$dir/junk.bin"
expect_error state_junk "not a stream snapshot" sh -c "'$bin' predict --model '$dir/r.ntn' --stream --state '$dir/junk.bin' < '$dir/b.txt'"
"$bin" train --data "$dir/ok.csv" --columns price --model lstm --input-size 24 --horizon 6 --hidden 8 \
  --set decoder_layers=0 --max-steps 5 --batch 8 --quiet --out "$dir/r2.ntn" > /dev/null
expect_error state_other_model "taken from another model" sh -c "'$bin' predict --model '$dir/r2.ntn' --stream --state '$dir/st.bin' < '$dir/b.txt'"
expect_error state_is_model "--state" sh -c "'$bin' predict --model '$dir/r.ntn' --stream --state '$dir/r.ntn' < '$dir/b.txt'"
expect_error state_is_dir "--state" sh -c "'$bin' predict --model '$dir/r.ntn' --stream --state '$dir' < '$dir/b.txt'"
expect_error state_without_stream "--state and --state-every go with --stream" "$bin" predict --model "$dir/r.ntn" --data "$dir/ok.csv" --columns price --state "$dir/x.bin"
expect_error state_every_without_state "--state-every needs --state FILE" sh -c "'$bin' predict --model '$dir/r.ntn' --stream --state-every 5 < '$dir/b.txt'"
expect_error state_cache "--cache: this lstm model carries its state" sh -c "'$bin' predict --model '$dir/r.ntn' --stream --cache 8 < '$dir/b.txt'"
finish
