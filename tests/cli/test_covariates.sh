#!/usr/bin/env bash
# Covariates through the CLI: the README's S&P 500 example (close with volume as a historic and
# day-of-week as a future-known covariate) trains, saves, evaluates, predicts and backtests; a
# user future-known column needs --future; every bad covariate input is a one-line error naming
# the file, row or column. Usage: test_covariates.sh path/to/ntneural
source "$(dirname "$0")/lib.sh" "$1"
root=$(cd "$(dirname "$0")/../.." && pwd)
sp="$root/data/sp500_2000_2020_daily.csv"
small=(--input-size 30 --horizon 5 --mlp-units 16x16 --max-steps 40 --batch 16 --quiet)

# The README example (smaller network and fewer steps).
check sp_train "$bin" train --data "$sp" --target close --hist-exog volume --calendar dow "${small[@]}" \
  --out "$dir/sp.ntn" --json
check sp_predict_rows test "$("$bin" predict --model "$dir/sp.ntn" --data "$sp" | wc -l)" -eq 6
check sp_evaluate "$bin" evaluate --model "$dir/sp.ntn" --data "$sp" --json
check sp_backtest "$bin" backtest --model "$dir/sp.ntn" --data "$sp" --columns close --origins 50 --json
check sp_backtest_refit sh -c "'$bin' backtest --model '$dir/sp.ntn' --data '$sp' --columns close --origins 20 \
  --refit-every 10 --json | grep -q '\"refits\":2'"
check sp_quantize "$bin" quantize --model "$dir/sp.ntn" --to int8 --out "$dir/sp.int8.ntn" --data "$sp" --json
check sp_int8_predict_rows test "$("$bin" predict --model "$dir/sp.int8.ntn" --precision int8 --data "$sp" | wc -l)" -eq 6
check sp_models_json sh -c "'$bin' models --json | grep -q '\"historic\"'"
# The artifact records the covariates and their train-part scalers.
check sp_artifact_meta sh -c "'$bin' train --data '$sp' --target close --hist-exog volume --calendar dow ${small[*]} \
  --out '$dir/sp2.ntn' --json | grep -q '\"name\":\"volume\"'"

# --calendar auto on daily bars: dow and doy, recorded as calendar channels; predict needs no file.
check calendar_auto_train sh -c "'$bin' train --data '$sp' --target close --calendar auto ${small[*]} \
  --out '$dir/cal.ntn' --json | grep -q '\"name\":\"doy\"'"
check calendar_auto_predict_rows test "$("$bin" predict --model "$dir/cal.ntn" --data "$sp" | wc -l)" -eq 6

# A user future-known column: sales driven by a known promo schedule.
python3 - "$dir" <<'PY'
import datetime, random, sys
d = sys.argv[1]
random.seed(3)
day = datetime.datetime(2024, 1, 1)
rows = []
for i in range(460):
    promo = 1 if random.random() < 0.3 else 0
    rows.append((day + datetime.timedelta(hours=i), 40 + 25 * promo + random.random(), promo, 5 + i % 7))
def write(name, header, lines):
    with open(f"{d}/{name}", "w") as f:
        f.write(header + "\n" + "".join(line + "\n" for line in lines))
stamp = lambda t: f"{t:%Y-%m-%d %H:%M}"
write("hist.csv", "time,sales,promo,price", (f"{stamp(t)},{s:.3f},{p},{c}" for t, s, p, c in rows[:450]))
future = lambda a, b, bad=-1: (f"{stamp(t)},{'nan' if k == bad else p}" for k, (t, s, p, c) in enumerate(rows[a:b]))
write("future.csv", "time,promo", future(450, 456))
write("short.csv", "time,promo", future(450, 452))
write("nan.csv", "time,promo", future(450, 456, bad=3))
write("past.csv", "time,promo", future(440, 446))
write("nodates.csv", "step,sales,promo", (f"{k},{s:.3f},{p}" for k, (t, s, p, c) in enumerate(rows[:300])))
PY
check promo_train "$bin" train --data "$dir/hist.csv" --target sales --futr-exog promo --hist-exog price \
  "${small[@]}" --out "$dir/promo.ntn"
check promo_predict test "$("$bin" predict --model "$dir/promo.ntn" --data "$dir/hist.csv" --future "$dir/future.csv" \
  | wc -l)" -eq 6

check plain_train "$bin" train --data "$sp" --target close --hist-exog volume "${small[@]}" --out "$dir/plain.ntn"
prefix=("$bin")
error_table <<T
predict_without_future | needs future-known covariates for the 5 steps ahead (promo): give them | predict --model "$dir/promo.ntn" --data "$dir/hist.csv"
predict_short_future   | short.csv: 2 rows, but the model needs the 5 steps after the history | predict --model "$dir/promo.ntn" --data "$dir/hist.csv" --future "$dir/short.csv"
predict_nan_future     | nan.csv:5: column 'promo'                                               | predict --model "$dir/promo.ntn" --data "$dir/hist.csv" --future "$dir/nan.csv"
predict_past_future    | is not after the last row of                                            | predict --model "$dir/promo.ntn" --data "$dir/hist.csv" --future "$dir/past.csv"
predict_missing_column | future.csv: unknown column 'sales'                                       | predict --model "$dir/promo.ntn" --data "$dir/future.csv"
future_for_plain_model | --future: the model takes no future-known covariates                    | predict --model "$dir/plain.ntn" --data "$sp" --future "$dir/future.csv"
cache_with_covariates  | --cache serves models without covariates only                           | predict --model "$dir/sp.ntn" --data "$sp" --cache 10
stream_with_covariates | this model takes covariates                                             | predict --model "$dir/sp.ntn" --stream
unknown_covariate      | unknown column 'nope'                                                   | train --data "$sp" --target close --hist-exog nope ${small[*]} --out "$dir/x.ntn"
target_is_covariate    | column 'close' is both a target and a covariate                         | train --data "$sp" --target close --hist-exog close ${small[*]} --out "$dir/x.ntn"
twice_covariate        | column 'volume' is given as two covariates                              | train --data "$sp" --target close --hist-exog volume --futr-exog volume ${small[*]} --out "$dir/x.ntn"
static_changes         | static column 'volume' changes                                          | train --data "$sp" --target close --static volume ${small[*]} --out "$dir/x.ntn"
calendar_unknown       | unknown calendar feature 'weekday'                                      | train --data "$sp" --target close --calendar weekday ${small[*]} --out "$dir/x.ntn"
calendar_no_dates      | --calendar needs a time column of dates                                 | train --data "$dir/nodates.csv" --target sales --calendar dow ${small[*]} --out "$dir/x.ntn"
calendar_auto_no_dates | --calendar needs a time column of dates                                 | train --data "$dir/nodates.csv" --target sales --calendar auto ${small[*]} --out "$dir/x.ntn"
nbeats_no_covariates   | field 'hist_exog': nbeats takes no historic covariates                  | train --model nbeats --data "$sp" --target close --hist-exog volume ${small[*]} --out "$dir/x.ntn"
target_and_columns     | --target and --columns name the same thing                              | train --data "$sp" --target close --columns close ${small[*]} --out "$dir/x.ntn"
m4_covariates          | the m4 protocol takes no covariates                                     | train --protocol m4 --data "$sp" --test-data "$sp" --hist-exog volume --out "$dir/x.ntn"
T
check no_artifact_written test ! -e "$dir/x.ntn"
finish
