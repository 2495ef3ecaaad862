#!/usr/bin/env bash
# End-to-end checks of the ntneural binary: every bad input is a one-line error (exit 2) that
# names the problem; a tiny train -> evaluate -> predict round trip works and keeps its promises.
# Usage: test_cli.sh path/to/ntneural
set -u
bin="$1"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
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
    echo "FAIL $name: rc=$rc lines=$lines stderr: $err"; fails=$((fails + 1))
  fi
}
check() {  # check NAME CONDITION...
  local name="$1"; shift
  if "$@" > /dev/null; then passes=$((passes + 1)); else echo "FAIL $name"; fails=$((fails + 1)); fi
}

# A small, clean series: 400 days of a noisy sine.
python3 - "$dir/ok.csv" <<'PY'
import datetime, math, sys
day = datetime.date(2020, 1, 1)
with open(sys.argv[1], "w") as f:
    f.write("date,price,volume\n")
    for i in range(400):
        f.write(f"{day + datetime.timedelta(days=i)},{100 + 10 * math.sin(i / 7) + (i % 5) * 0.1:.4f},{1000 + i}\n")
PY
: > "$dir/empty.csv"
printf 'date,price\n2020-01-01,1\n2020-01-02,abc\n' > "$dir/text.csv"
printf 'date,price\n2020-01-01,1\n2020-01-02,nan\n2020-01-03,3\n' > "$dir/nan.csv"
head -30 "$dir/ok.csv" > "$dir/short.csv"

train=("$bin" train --input-size 24 --horizon 6 --mlp-units 16x16 --max-steps 20 --batch 8 --val-every 10 --quiet)
expect_error empty_file "is empty" "${train[@]}" --data "$dir/empty.csv" --out "$dir/m.ntn"
expect_error text_cell "text.csv:3: column 'price': 'abc' is not a number" "${train[@]}" --data "$dir/text.csv" --out "$dir/m.ntn"
expect_error nan_cell "nan.csv:3: column 'price': value 'nan' is NaN/inf" "${train[@]}" --data "$dir/nan.csv" --out "$dir/m.ntn"
expect_error too_short "fewer than input 24 + horizon 6" "${train[@]}" --data "$dir/short.csv" --out "$dir/m.ntn"
expect_error unknown_column "unknown column 'close' (columns: date, price, volume)" "${train[@]}" --data "$dir/ok.csv" --columns close --out "$dir/m.ntn"
expect_error missing_file "cannot open" "${train[@]}" --data "$dir/nope.csv" --out "$dir/m.ntn"
expect_error bad_model "unknown model type 'lstm9'" "${train[@]}" --data "$dir/ok.csv" --model lstm9 --out "$dir/m.ntn"
expect_error bad_loss "unknown loss 'hinge'" "${train[@]}" --data "$dir/ok.csv" --loss hinge --out "$dir/m.ntn"
# The NaN file repaired by --fill linear trains (the gap is interior).
check fill_repairs "${train[@]}" --data "$dir/ok.csv" --fill linear --out "$dir/m.ntn"

# Round trip on the clean file.
"${train[@]}" --data "$dir/ok.csv" --columns price --out "$dir/m.ntn" --json > "$dir/train.json" 2>/dev/null
check train_json grep -q '"test":{' "$dir/train.json"
check artifact_written test -s "$dir/m.ntn"
"$bin" evaluate --model "$dir/m.ntn" --data "$dir/ok.csv" --columns price --json > "$dir/eval.json"
check evaluate_has_mse_mae python3 -c "import json,sys; d=json.load(open(sys.argv[1])); assert d['mse'] > 0 and d['mae'] > 0 and 'naive' in d" "$dir/eval.json"
check evaluate_equals_train python3 -c "import json,sys; a=json.load(open(sys.argv[1]))['test']; b=json.load(open(sys.argv[2])); assert abs(a['mae']-b['mae']) < 1e-9, (a['mae'], b['mae'])" "$dir/train.json" "$dir/eval.json"
"$bin" predict --model "$dir/m.ntn" --data "$dir/ok.csv" --json > "$dir/pred.json"
check predict_horizon python3 -c "import json,sys; d=json.load(open(sys.argv[1])); f=d['forecasts']['price']; assert len(f) == 6 and all(80 < v < 120 for v in f), f" "$dir/pred.json"
# The artifact is a safetensors file: 8-byte header length, JSON header with our metadata.
check artifact_layout python3 -c "
import json, struct, sys
b = open(sys.argv[1], 'rb').read(); n = struct.unpack('<Q', b[:8])[0]; h = json.loads(b[8:8 + n])
m = h['__metadata__']; assert m['format'] == 'ntneural-model' and m['model_type'] == 'nhits'
for k in ('uuid', 'version', 'created', 'model_config', 'scaler', 'training'): assert k in m, k
w = h['stacks.0.blocks.0.mlp.0.weight']; assert w['dtype'] == 'F32' and w['shape'] == [16, 12]
" "$dir/m.ntn"

# Corrupted and truncated artifacts are clear errors.
head -c 100 "$dir/m.ntn" > "$dir/trunc.ntn"
expect_error truncated_artifact "trunc.ntn" "$bin" predict --model "$dir/trunc.ntn" --data "$dir/ok.csv"
python3 - "$dir/m.ntn" "$dir/corrupt.ntn" <<'PY'
import sys
b = bytearray(open(sys.argv[1], "rb").read()); b[8] = ord("#"); open(sys.argv[2], "wb").write(b)
PY
expect_error corrupted_artifact "corrupt.ntn: the header is not valid JSON" "$bin" predict --model "$dir/corrupt.ntn" --data "$dir/ok.csv"
expect_error not_an_artifact "not a model file" "$bin" predict --model "$dir/empty.csv" --data "$dir/ok.csv"
expect_error unseen_series "series 'volume' was not in the training data" "$bin" predict --model "$dir/m.ntn" --data "$dir/ok.csv" --columns volume

echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
