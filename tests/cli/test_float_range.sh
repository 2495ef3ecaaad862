#!/usr/bin/env bash
# Hardening, class "float range": values finite in double but not in float32 never train, never
# forecast NaN with exit 0; errors name the file, line, column and the value. Metrics are
# computed in double (a 1e13 level keeps its errors). Usage: test_float_range.sh path/to/ntneural
source "$(dirname "$0")/lib.sh" "$1"
make_ok_csv "$dir/ok.csv"
python3 - "$dir" <<'PY'
import datetime, math, sys
d = sys.argv[1]
day = datetime.date(2020, 1, 1)
def wide(name, f):
    with open(f"{d}/{name}", "w") as out:
        out.write("date,price\n")
        for i in range(400):
            out.write(f"{day + datetime.timedelta(days=i)},{f(i)}\n")
wide("big.csv", lambda i: 5e38 if i == 333 else 100 + 10 * math.sin(i / 7))
wide("huge.csv", lambda i: -1e300 if i == 50 else 100 + 10 * math.sin(i / 7))
# Robust scaler: the train part sits at the 1e-30 level (median and IQR ~1e-30), one late value
# is 1e10: scaled it is ~1e40, beyond float32.
wide("spike.csv", lambda i: 1e10 if i == 390 else 1e-30 * (i % 3))
wide("offset.csv", lambda i: f"{1e13 + 1000 * math.sin(i / 7) + (i % 5) * 10:.1f}")
wide("tiny.csv", lambda i: 1e-30 * (1 + math.sin(i / 5)))
wide("lastbig.csv", lambda i: 3.5e38 if i == 399 else 100 + 10 * math.sin(i / 7))
with open(f"{d}/m4_train.csv", "w") as f:
    f.write("V1,V2,V3,V4,V5,V6,V7,V8,V9,V10\n")
    f.write("H1," + ",".join(str(100 + i) for i in range(9)) + "\n")
    f.write("H2," + ",".join(str(1e39 if i == 4 else 100 + i) for i in range(9)) + "\n")
with open(f"{d}/m4_test.csv", "w") as f:
    f.write("V1,V2,V3\nH1,1,2\nH2,3,4\n")
PY
small=(--input-size 24 --horizon 6 --mlp-units 8x8 --max-steps 20 --batch 8 --quiet)
prefix=("$bin" train "${small[@]}")
error_table <<T
csv_above_float_max | big.csv:335: column 'price': value 5e+38 is beyond float32  | --data "$dir/big.csv" --out "$dir/big.ntn"
csv_minus_1e300     | huge.csv:52: column 'price': value -1e+300 is beyond float32 | --data "$dir/huge.csv" --out "$dir/huge.ntn"
scaled_overflow     | spike.csv:392: column 'price': value 1e+10 scaled by the train-part robust scaler | --data "$dir/spike.csv" --scaler robust --out "$dir/spike.ntn"
T
expect_error m4_above_float_max "m4_train.csv:3: series 'H2', column 6: value 1e+39 is beyond float32" "$bin" train \
  --protocol m4 --data "$dir/m4_train.csv" --test-data "$dir/m4_test.csv" --input-size 4 --quiet --out "$dir/m4.ntn"
check no_artifact_big test ! -e "$dir/big.ntn"
check no_artifact_spike test ! -e "$dir/spike.ntn"

"$bin" train --data "$dir/ok.csv" --columns price "${small[@]}" --out "$dir/m.ntn" > /dev/null
prefix=()
error_table <<T
predict_last_window  | lastbig.csv:401: column 'price': value 3.5e+38 is beyond float32 | "$bin" predict --model "$dir/m.ntn" --data "$dir/lastbig.csv"
backtest_big         | big.csv:335: column 'price': value 5e+38 is beyond float32      | "$bin" backtest --model "$dir/m.ntn" --data "$dir/big.csv" --origins 10
search_big           | big.csv:335: column 'price'                                    | "$bin" search --data "$dir/big.csv" --input-size 24 --horizon 6 --grid "lr=0.01"
T

# A model of a series at the 1e-30 level (scale ~7e-31): ticks of 1e37 scale to inf in float32 -
# the forecast is refused (exit 2) instead of printed as inf / nan.
"$bin" train --data "$dir/tiny.csv" "${small[@]}" --out "$dir/tiny.ntn" > /dev/null
check tiny_model_trained test -s "$dir/tiny.ntn"
expect_error stream_overflow "the forecast of input row 0 is not finite" sh -c "yes 1e37 | head -30 | '$bin' predict --model '$dir/tiny.ntn' --stream"
expect_error stream_overflow_json "is not finite" sh -c "yes 1e37 | head -30 | '$bin' predict --model '$dir/tiny.ntn' --stream --json"

# Metrics in double: on a 1e13 level moving by 1e3, evaluate and backtest report real errors
# (float32 would give 0 or 1e5), close to each other, and below the random walk's.
"$bin" train --data "$dir/offset.csv" --input-size 24 --horizon 6 --mlp-units 16x16 --max-steps 200 --batch 16 --quiet \
  --out "$dir/off.ntn" > /dev/null
"$bin" evaluate --model "$dir/off.ntn" --data "$dir/offset.csv" --json > "$dir/ev.json"
"$bin" backtest --model "$dir/off.ntn" --data "$dir/offset.csv" --origins 60 --json > "$dir/bt.json"
check offset_metrics python3 -c "
import json, sys
e = json.load(open(sys.argv[1])); b = json.load(open(sys.argv[2]))
assert 0 < e['mae'] < e['naive']['mae'], e
assert 0 < b['mae'] < b['naive']['mae'], b
assert 0.5 < e['mae'] / b['mae'] < 2, (e['mae'], b['mae'])" "$dir/ev.json" "$dir/bt.json"
finish
