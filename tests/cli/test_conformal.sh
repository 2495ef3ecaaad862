#!/usr/bin/env bash
# Conformal intervals from the command line: train calibrates them on the validation windows and
# reports their test coverage; predict prints them beside the forecast (CSV and JSON); evaluate
# scores them on other data; --conformal none leaves them out; a level the validation part cannot
# support is a note, not a failure; bad levels and scores are one-line errors (exit 2).
# Usage: test_conformal.sh path/to/ntneural
source "$(dirname "$0")/lib.sh" "$1"
make_ok_csv "$dir/ok.csv"
train=("$bin" train --data "$dir/ok.csv" --columns price --input-size 24 --horizon 6 --mlp-units 16x16 --max-steps 20 --batch 8 --quiet)
jq_py() { python3 -c "import json, sys; d = json.load(sys.stdin); $1"; }

check train_default "${train[@]}" --out "$dir/m.ntn" --json
"${train[@]}" --out "$dir/m.ntn" --json > "$dir/m.json"
check test_intervals test "$(jq_py 'print([l["level"] for l in d["test"]["intervals"]["levels"]], d["test"]["intervals"]["score"])' < "$dir/m.json")" = "[0.8, 0.95] absolute"
check test_coverage_in_range jq_py 'assert all(0 <= l["coverage"] <= 1 and l["mean_width"] > 0 and l["msis"] > 0 for l in d["test"]["intervals"]["levels"])' < "$dir/m.json"
check train_table sh -c "'${train[0]}' ${train[*]:1} --out '$dir/m2.ntn' | grep -q '95% coverage'"
# predict: lo80 <= hi80 and lo95 <= lo80 <= forecast <= hi80 <= hi95 on every row.
"$bin" predict --model "$dir/m.ntn" --data "$dir/ok.csv" --columns price > "$dir/p.csv"
check predict_header test "$(head -1 "$dir/p.csv")" = "series,step,forecast,lo80,hi80,lo95,hi95"
check predict_nested python3 -c "
import csv
rows = list(csv.DictReader(open('$dir/p.csv')))
assert len(rows) == 6
for r in rows:
    v = [float(r[k]) for k in ('lo95', 'lo80', 'forecast', 'hi80', 'hi95')]
    assert v == sorted(v) and v[0] < v[-1], r"
check predict_json sh -c "'$bin' predict --model '$dir/m.ntn' --data '$dir/ok.csv' --columns price --json | python3 -c \"import json,sys; d=json.load(sys.stdin); b=d['intervals']['bounds']['price']; assert len(b['80']['lo']) == 6 and all(l < h for l, h in zip(b['95']['lo'], b['95']['hi']))\""
check evaluate_intervals sh -c "'$bin' evaluate --model '$dir/m.ntn' --data '$dir/ok.csv' --columns price --json | python3 -c \"import json,sys; d=json.load(sys.stdin); assert [l['level'] for l in d['intervals']['levels']] == [0.8, 0.95]\""
# The window score: the interval follows the window's volatility.
check window_score sh -c "'${train[0]}' ${train[*]:1} --out '$dir/w.ntn' --conformal-score window --json | python3 -c \"import json,sys; d=json.load(sys.stdin); assert d['test']['intervals']['score'] == 'window'\""
check conformal_none "${train[@]}" --out "$dir/n.ntn" --conformal none
check none_has_no_columns test "$("$bin" predict --model "$dir/n.ntn" --data "$dir/ok.csv" --columns price | head -1)" = "series,step,forecast"
check none_has_no_test_intervals sh -c "'$bin' evaluate --model '$dir/n.ntn' --data '$dir/ok.csv' --columns price --json | python3 -c \"import json,sys; assert 'intervals' not in json.load(sys.stdin)\""
# 400 rows, 10% validation: 35 windows - enough for 95%, not for 99.9%.
"${train[@]}" --out "$dir/s.ntn" --conformal 0.5,0.999 --json > "$dir/s.json"
check skipped_level_recorded jq_py 'assert "99.9% needs 999 calibration windows" in d["conformal"]["skipped"], d' < "$dir/s.json"
check kept_level test "$(jq_py 'print([l["level"] for l in d["test"]["intervals"]["levels"]])' < "$dir/s.json")" = "[0.5]"

# backtest: the single model's intervals over every origin (an ensemble of models has none).
check backtest_intervals sh -c "'$bin' backtest --model '$dir/m.ntn' --data '$dir/ok.csv' --columns price --origins 50 --json | python3 -c \"import json,sys; d=json.load(sys.stdin); lv=d['intervals']['levels']; assert [l['level'] for l in lv] == [0.8, 0.95] and lv[0]['coverage'] <= lv[1]['coverage'] and lv[0]['mean_width'] < lv[1]['mean_width'], lv\""
check backtest_ensemble_no_intervals sh -c "'$bin' backtest --model '$dir/m.ntn,$dir/w.ntn' --data '$dir/ok.csv' --columns price --origins 50 --json | python3 -c \"import json,sys; assert 'intervals' not in json.load(sys.stdin)\""
check backtest_adaptive sh -c "'$bin' backtest --model '$dir/m.ntn' --data '$dir/ok.csv' --columns price --origins 50 --json | python3 -c \"import json,sys; d=json.load(sys.stdin); a=d['adaptive_intervals']; assert a['gamma'] == 0.05 and [l['level'] for l in a['levels']] == [0.8, 0.95], a\""
check backtest_adaptive_off sh -c "'$bin' backtest --model '$dir/m.ntn' --data '$dir/ok.csv' --columns price --origins 50 --aci-gamma 0 --json | python3 -c \"import json,sys; assert 'adaptive_intervals' not in json.load(sys.stdin)\""
prefix=("$bin" backtest --model "$dir/m.ntn" --data "$dir/ok.csv" --columns price --origins 50)
error_table <<ROWS
aci_gamma_negative | --aci-gamma | --aci-gamma -0.1
aci_gamma_huge     | --aci-gamma | --aci-gamma 2
aci_gamma_inf      | --aci-gamma | --aci-gamma 1e999
aci_gamma_nan      | --aci-gamma | --aci-gamma nan
aci_gamma_text     | --aci-gamma | --aci-gamma fast
ROWS

# ---- calibrate: other levels, score or data; a new artifact ------------------------------------
check calibrate_test_part "$bin" calibrate --model "$dir/m.ntn" --data "$dir/ok.csv" --columns price --part test --levels 0.5,0.9 --out "$dir/c.ntn"
# Calibrated on the test windows themselves, the test coverage is the split rule's in-sample one:
# at least the level, and above it by no more than one window's share (plus ties).
check calibrate_in_sample sh -c "'$bin' evaluate --model '$dir/c.ntn' --data '$dir/ok.csv' --columns price --json | python3 -c \"import json,sys; d=json.load(sys.stdin); n=d['windows']; lv=d['intervals']['levels']; assert [l['level'] for l in lv] == [0.5, 0.9]; assert all(l['level'] <= l['coverage'] <= l['level'] + 1.5 / n + 0.01 for l in lv), lv\""
check calibrate_new_uuid test "$("$bin" calibrate --model "$dir/m.ntn" --data "$dir/ok.csv" --columns price --out "$dir/c2.ntn" --json | jq_py 'print(d["uuid"] != d["calibrated_from"], d["part"])')" = "True val"
check calibrate_header test "$("$bin" predict --model "$dir/c.ntn" --data "$dir/ok.csv" --columns price | head -1)" = "series,step,forecast,lo50,hi50,lo90,hi90"
prefix=("$bin" calibrate --model "$dir/m.ntn" --data "$dir/ok.csv" --columns price)
error_table <<ROWS
calibrate_onto_model  | is the same file as --model   | --out "$dir/m.ntn"
calibrate_bad_part    | --part must be val, test or all | --part train --out "$dir/never.ntn"
calibrate_bad_level   | --levels                     | --levels 1.5 --out "$dir/never.ntn"
calibrate_bad_score   | unknown conformal score      | --score relative --out "$dir/never.ntn"
calibrate_too_few     | needs at least 999 calibration windows | --levels 0.999 --out "$dir/never.ntn"
calibrate_head_point  | needs a distribution head (--loss nll) or quantile levels on both sides | --score head --out "$dir/never.ntn"
half_life_negative    | --half-life must be a finite number | --half-life -5 --out "$dir/never.ntn"
half_life_nan         | --half-life must be a finite number | --half-life nan --out "$dir/never.ntn"
half_life_inf         | --half-life must be a finite number | --half-life 1e999 --out "$dir/never.ntn"
half_life_text        | --half-life                  | --half-life week --out "$dir/never.ntn"
half_life_too_short   | 80% interval needs calibration weights summing to at least 4 | --half-life 1 --out "$dir/never.ntn"
ROWS
# Recency weighting: the artifact and the reports keep the half-life; a half-life as long as the
# data weighs the windows nearly alike (the radii move little); a short one moves them.
check half_life_calibrate sh -c "'$bin' calibrate --model '$dir/m.ntn' --data '$dir/ok.csv' --columns price --half-life 20 --json --out '$dir/h.ntn' | python3 -c \"import json,sys; d=json.load(sys.stdin); assert d['half_life'] == 20, d\""
check half_life_reported sh -c "'$bin' evaluate --model '$dir/h.ntn' --data '$dir/ok.csv' --columns price --json | python3 -c \"import json,sys; d=json.load(sys.stdin); assert d['intervals']['half_life'] == 20, d['intervals']\""
check half_life_backtest sh -c "'$bin' backtest --model '$dir/h.ntn' --data '$dir/ok.csv' --columns price --origins 20 --json | python3 -c \"import json,sys; d=json.load(sys.stdin); assert d['intervals']['half_life'] == 20, d['intervals']\""
check half_life_train sh -c "'${train[0]}' ${train[*]:1} --out '$dir/h2.ntn' --conformal-half-life 1e9 --json | python3 -c \"import json,sys; d=json.load(sys.stdin); assert d['test']['intervals']['half_life'] == 1e9, d['test']['intervals']\""
check half_life_long_is_plain python3 -c "
import csv, subprocess
def bounds(m):
    out = subprocess.run(['$bin', 'predict', '--model', m, '--data', '$dir/ok.csv', '--columns', 'price'], capture_output=True, text=True, check=True).stdout
    return [float(r['hi95']) - float(r['lo95']) for r in csv.DictReader(out.splitlines())]
a, b = bounds('$dir/m.ntn'), bounds('$dir/h2.ntn')
assert all(abs(x - y) <= 1e-3 * x for x, y in zip(a, b)), (a, b)"

# ---- adaptive intervals over a stream (ACI) ------------------------------------------------------
python3 -c "
import csv
v = [r['price'] for r in csv.DictReader(open('$dir/ok.csv'))]
open('$dir/all.txt', 'w').write('\n'.join(v) + '\n')
open('$dir/a.txt', 'w').write('\n'.join(v[:200]) + '\n')
open('$dir/b.txt', 'w').write('\n'.join(v[200:]) + '\n')"
"$bin" predict --model "$dir/m.ntn" --stream --aci 0.8 < "$dir/all.txt" > "$dir/aci.out"
check aci_line_width awk -F, 'NF != 18 { exit 1 }' "$dir/aci.out"   # 6 forecasts, 6 lower, 6 upper bounds
check aci_bounds_nested python3 -c "
for line in open('$dir/aci.out'):
    v = [float(x) for x in line.split(',')]
    f, lo, hi = v[:6], v[6:12], v[12:]
    assert all(l <= x <= h for l, x, h in zip(lo, f, hi)), line"
check aci_json sh -c "'$bin' predict --model '$dir/m.ntn' --stream --aci 0.8 --json < '$dir/all.txt' | tail -1 | python3 -c \"import json,sys; d=json.loads(sys.stdin.read()); assert len(d['interval']['lo']) == 6 and 0 < d['interval']['coverage_level'] <= 1\""
# Stopped with --state and resumed, the stream prints what the unbroken one prints (ACI state included).
"$bin" predict --model "$dir/m.ntn" --stream --aci 0.8 --aci-gamma 0.05 < "$dir/all.txt" | tail -n 1 > "$dir/aci.whole"
"$bin" predict --model "$dir/m.ntn" --stream --aci 0.8 --aci-gamma 0.05 --state "$dir/aci.st" < "$dir/a.txt" > /dev/null
"$bin" predict --model "$dir/m.ntn" --stream --aci 0.8 --aci-gamma 0.05 --state "$dir/aci.st" < "$dir/b.txt" | tail -n 1 > "$dir/aci.resumed"
check aci_resume_equals_unbroken cmp -s "$dir/aci.whole" "$dir/aci.resumed"
check aci_moves_the_interval bash -c "! cmp -s '$dir/aci.whole' <('$bin' predict --model '$dir/m.ntn' --stream --aci 0.8 --aci-gamma 0.000001 < '$dir/all.txt' | tail -n 1)"
# ---- score head: a quantile head's own spread, stretched by the calibration ---------------------
"${train[@]}" --loss pinball --quantiles 0.1,0.5,0.9 --conformal-score head --out "$dir/q.ntn" --json > "$dir/q.json"
check head_test_intervals test "$(jq_py 'print(d["test"]["intervals"]["score"], len(d["test"]["intervals"]["levels"]))' < "$dir/q.json")" = "head 2"
"$bin" predict --model "$dir/q.ntn" --data "$dir/ok.csv" --columns price > "$dir/q.csv"
check head_predict_header test "$(head -1 "$dir/q.csv")" = "series,step,q0.1,q0.5,q0.9,lo80,hi80,lo95,hi95"
# Each interval stretches both sides of the head by the same factor: (median - lo) / (median - q0.1)
# equals (hi - median) / (q0.9 - median) for each level, and the 95% one holds the 80% one.
check head_keeps_the_heads_shape python3 -c "
import csv
rows = list(csv.DictReader(open('$dir/q.csv')))
assert len(rows) == 6
for r in rows:
    q1, m, q9 = (float(r[k]) for k in ('q0.1', 'q0.5', 'q0.9'))
    assert q1 < m < q9, r
    for lv in ('80', '95'):
        lo, hi = float(r['lo' + lv]), float(r['hi' + lv])
        a, b = (m - lo) / (m - q1), (hi - m) / (q9 - m)
        assert a > 0 and abs(a - b) <= 1e-3 * a, (lv, a, b, r)
    assert float(r['lo95']) <= float(r['lo80']) and float(r['hi80']) <= float(r['hi95']), r"
check head_backtest sh -c "'$bin' backtest --model '$dir/q.ntn' --data '$dir/ok.csv' --columns price --origins 50 --json | python3 -c \"import json,sys; d=json.load(sys.stdin); assert d['intervals']['score'] == 'head' and [l['level'] for l in d['adaptive_intervals']['levels']] == [0.8, 0.95], d['intervals']\""
"$bin" predict --model "$dir/q.ntn" --stream --aci 0.8 < "$dir/all.txt" > "$dir/qaci.out"
check head_aci_bounds python3 -c "
n = 0
for line in open('$dir/qaci.out'):
    v = [float(x) for x in line.split(',')]
    assert len(v) == 30, len(v)   # 6 steps x 3 quantiles, then 6 lower and 6 upper bounds
    q, lo, hi = v[:18], v[18:24], v[24:]
    assert all(l <= q[3 * h + 1] <= u for h, (l, u) in enumerate(zip(lo, hi))), line
    n += 1
assert n > 100, n"
check head_calibrate "$bin" calibrate --model "$dir/q.ntn" --data "$dir/ok.csv" --columns price --score head --part test --out "$dir/qc.ntn"
check head_calibrate_in_sample sh -c "'$bin' evaluate --model '$dir/qc.ntn' --data '$dir/ok.csv' --columns price --json | python3 -c \"import json,sys; d=json.load(sys.stdin); n=d['windows']; lv=d['intervals']['levels']; assert d['intervals']['score'] == 'head' and all(l['level'] <= l['coverage'] <= l['level'] + 1.5 / n + 0.01 for l in lv), lv\""

prefix=("$bin" predict)
error_table <<ROWS
aci_without_stream    | --aci goes with --stream     | --model "$dir/m.ntn" --data "$dir/ok.csv" --columns price --aci 0.8
aci_with_cache        | drop --cache                 | --model "$dir/m.ntn" --stream --aci 0.8 --cache 10
aci_level_one         | --aci                        | --model "$dir/m.ntn" --stream --aci 1
aci_level_negative    | --aci                        | --model "$dir/m.ntn" --stream --aci -0.2
aci_gamma_zero        | --aci-gamma                  | --model "$dir/m.ntn" --stream --aci 0.8 --aci-gamma 0
aci_gamma_huge        | --aci-gamma                  | --model "$dir/m.ntn" --stream --aci 0.8 --aci-gamma 7
aci_no_calibration    | has no conformal calibration | --model "$dir/n.ntn" --stream --aci 0.8
aci_state_without_aci | holds adaptive intervals     | --model "$dir/m.ntn" --stream --state "$dir/aci.st"
aci_state_other_gamma | saved with another level or gamma | --model "$dir/m.ntn" --stream --aci 0.8 --aci-gamma 0.01 --state "$dir/aci.st"
ROWS

prefix=("${train[@]}" --out "$dir/never.ntn")
error_table <<ROWS
level_one             | --conformal                  | --conformal 1
level_zero            | --conformal                  | --conformal 0
level_negative        | --conformal                  | --conformal -0.5
level_huge            | --conformal                  | --conformal 1e300
level_nan             | --conformal                  | --conformal nan
level_text            | --conformal                  | --conformal wide
level_empty_item      | --conformal                  | --conformal 0.8,,0.9
levels_unordered      | must increase (0.95 then 0.8) | --conformal 0.95,0.8
score_unknown         | unknown conformal score 'relative' | --conformal-score relative
score_head_point      | --conformal-score head: conformal score head scales the model's own spread | --conformal-score head
score_head_one_side   | quantile levels on both sides of the median | --conformal-score head --loss pinball --quantiles 0.5,0.9
half_life_negative    | --conformal-half-life must be a finite number | --conformal-half-life -1
half_life_nan         | --conformal-half-life must be a finite number | --conformal-half-life nan
half_life_huge        | --conformal-half-life must be a finite number | --conformal-half-life 1e300
half_life_text        | --conformal-half-life        | --conformal-half-life week
ROWS
check failures_write_nothing test ! -e "$dir/never.ntn"
finish
