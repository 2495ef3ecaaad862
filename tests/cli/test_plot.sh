#!/usr/bin/env bash
# Pictures from the command line: `ntneural plot` and --plot on train / predict / backtest write
# SVG charts and HTML reports that are valid XML with the expected charts, lines, bands, axis labels
# and legends (check_svg.py); --plot leaves the command's own output unchanged; bad requests are
# one-line errors before any work, and no picture is half-written.
# Usage: test_plot.sh path/to/ntneural
source "$(dirname "$0")/lib.sh" "$1"
here=$(dirname "$0")
svg() { /usr/bin/python3 "$here/check_svg.py" "$@"; }
make_ok_csv "$dir/ok.csv"
train=("$bin" train --data "$dir/ok.csv" --columns price,volume --input-size 24 --horizon 6 --mlp-units 16x16 --max-steps 60 --batch 8 --val-every 20 --quiet)

# ---- train --plot: the run's report; JSON names it ---------------------------------------------
check train_report "${train[@]}" --out "$dir/m.ntn" --plot "$dir/train.html"
# Two forecasts (price, volume), the backtest's three charts, the learning curve.
check report_charts svg "$dir/train.html" charts=6 "text=price: forecast of the next 6 steps" \
  "text=volume: forecast of the next 6 steps" text=date "text=horizon step" text=history text=forecast \
  "text=80% interval" "text=95% interval" "text=training loss" "text=validation loss" "text=adaptive 80%" \
  "text=random walk" bands_min=6
check report_card grep -q "training data fingerprint (sha256)" "$dir/train.html"
check report_test_metrics grep -q "test.mae" "$dir/train.html"
check train_json_plot sh -c "'${train[0]}' ${train[*]:1} --out '$dir/m2.ntn' --plot '$dir/curve.svg' --json | python3 -c \"import json,sys; assert json.load(sys.stdin)['plot'] == '$dir/curve.svg'\""
check train_curve_svg svg "$dir/curve.svg" charts=1 "text=training loss" "text=validation loss" text=step
check curve_in_artifact sh -c "'$bin' plot --model '$dir/m.ntn' --data '$dir/ok.csv' --kind loss --out '$dir/l.svg'"
check curve_svg svg "$dir/l.svg" charts=1 series_min=2

# ---- predict --plot: the forecast fans; stdout is the same forecast table ----------------------
"$bin" predict --model "$dir/m.ntn" --data "$dir/ok.csv" > "$dir/p0.csv"
check predict_plot sh -c "'$bin' predict --model '$dir/m.ntn' --data '$dir/ok.csv' --plot '$dir/f.svg' > '$dir/p1.csv'"
check predict_stdout_same cmp "$dir/p0.csv" "$dir/p1.csv"
check predict_fans svg "$dir/f.svg" charts=2 bands_min=4 series_min=4 "text=80% interval" text=date
# --precision: the pictures draw the forecasts predict printed (int8 weights), not fp32 ones.
"$bin" predict --model "$dir/m.ntn" --data "$dir/ok.csv" --precision int8 --json > "$dir/p8.json"
check predict_int8_plot sh -c "'$bin' predict --model '$dir/m.ntn' --data '$dir/ok.csv' --precision int8 --plot '$dir/f8.html' > /dev/null"
check predict_int8_subtitle grep -q "(int8 weights)" "$dir/f8.html"
check predict_history sh -c "'$bin' predict --model '$dir/m.ntn' --data '$dir/ok.csv' --plot '$dir/f1.svg' --plot-series 1 --plot-history 100 > /dev/null"
check predict_one_series svg "$dir/f1.svg" charts=1 "text=price: forecast of the next 6 steps"

# ---- backtest --plot: forecast vs actual, error by step, rolling coverage ----------------------
check backtest_plot "$bin" backtest --model "$dir/m.ntn" --data "$dir/ok.csv" --columns price --origins 120 --plot "$dir/b.svg"
check backtest_charts svg "$dir/b.svg" charts=3 "text=actual" "text=forecast, step 1" "text=forecast, step 6" \
  "text=split 80%" "text=adaptive 95%" "text=nominal 80%" "text=coverage of the H steps" "text=model"
# Origins 2 apart: no adaptive intervals (they follow every value), split conformal still drawn.
check backtest_step2 "$bin" backtest --model "$dir/m.ntn" --data "$dir/ok.csv" --columns price --origins 60 --step 2 --plot "$dir/b2.svg"
check backtest_step2_no_aci svg "$dir/b2.svg" charts=3 "text=split 80%" "notext=adaptive 80%"
check backtest_json_plot sh -c "'$bin' backtest --model '$dir/m.ntn' --data '$dir/ok.csv' --columns price --origins 50 --plot '$dir/b3.html' --json | python3 -c \"import json,sys; assert json.load(sys.stdin)['plot'].endswith('b3.html')\""
check backtest_report svg "$dir/b3.html" charts=5 "text=split 95%"

# ---- plot: every kind; models without intervals; quantile fans ----------------------------------
for k in forecast backtest loss; do
  check plot_kind_$k "$bin" plot --model "$dir/m.ntn" --data "$dir/ok.csv" --kind $k --out "$dir/k_$k.svg"
done
check plot_kind_counts sh -c "svg() { /usr/bin/python3 '$here/check_svg.py' \"\$@\"; }; svg '$dir/k_forecast.svg' charts=2 && svg '$dir/k_backtest.svg' charts=3 && svg '$dir/k_loss.svg' charts=1"
check plot_report "$bin" plot --model "$dir/m.ntn" --data "$dir/ok.csv" --out "$dir/r.html"
check plot_report_valid svg "$dir/r.html" charts=6
"$bin" train --data "$dir/ok.csv" --columns price --input-size 24 --horizon 6 --mlp-units 16x16 --max-steps 20 --batch 8 --quiet --conformal none --out "$dir/n.ntn"
check no_interval_plot "$bin" plot --model "$dir/n.ntn" --data "$dir/ok.csv" --columns price --out "$dir/n.html"
check no_interval_no_bands svg "$dir/n.html" "notext=80% interval" "notext=split 80%" charts=4
check no_interval_note grep -q "no calibrated intervals" "$dir/n.html"
"$bin" train --data "$dir/ok.csv" --columns price --input-size 24 --horizon 6 --mlp-units 16x16 --max-steps 20 --batch 8 --quiet --conformal none --loss mq --quantiles 0.1,0.5,0.9 --out "$dir/q.ntn"
check quantile_fan "$bin" plot --model "$dir/q.ntn" --data "$dir/ok.csv" --columns price --out "$dir/q.svg"
check quantile_band svg "$dir/q.svg" charts=1 bands_min=1 "text=q0.1 - q0.9"
# Every kind of model draws: recurrent, convolutional, attention, a distribution head (its
# location), an ensemble.
for m in gru tcn transformer deepar; do
  check model_${m}_report "$bin" train --data "$dir/ok.csv" --columns price --model $m --input-size 24 --horizon 6 \
    --max-steps 20 --batch 8 --val-every 10 --quiet --out "$dir/$m.ntn" --plot "$dir/$m.html"
  check model_${m}_charts svg "$dir/$m.html" charts=5 "text=80% interval" "text=validation loss"
done
check deepar_location svg "$dir/deepar.html" "text=forecast (location)"
check ensemble_report "$bin" train --data "$dir/ok.csv" --columns price --ensemble 2 --input-size 24 --horizon 6 \
  --max-steps 20 --batch 8 --val-every 10 --quiet --out "$dir/ens.ntn" --plot "$dir/ens.html"
check ensemble_charts svg "$dir/ens.html" charts=4 "text=80% interval"
# A series long enough to forecast but not to backtest: the report says so instead of failing.
head -27 "$dir/ok.csv" > "$dir/short.csv"
check short_report "$bin" plot --model "$dir/m.ntn" --data "$dir/short.csv" --columns price --out "$dir/s.html"
check short_no_backtest grep -q "No backtest: .*a backtest needs at least 30" "$dir/s.html"
# A report replaces an earlier file of that name (atomically).
check replace_report "$bin" plot --model "$dir/m.ntn" --data "$dir/ok.csv" --out "$dir/r.html"

# ---- bad requests: one line, exit 2, before any work; nothing written ---------------------------
cp "$dir/m.ntn" "$dir/model.svg"
ln -s "$dir/ok.csv" "$dir/link.svg"
mkfifo "$dir/fifo.svg"
head -10 "$dir/ok.csv" > "$dir/tiny.csv"
prefix=("$bin" plot --model "$dir/m.ntn" --data "$dir/ok.csv")
error_table <<ROWS
bad_extension      | must end in .svg (a chart) or .html         | --out "$dir/never.png"
no_extension       | must end in .svg                            | --out "$dir/never"
bad_kind           | --kind must be forecast, backtest or loss    | --out "$dir/never.svg" --kind pie
kind_on_report     | --kind chooses the chart of an .svg file     | --out "$dir/never.html" --kind loss
onto_symlink       | is a symbolic link                          | --out "$dir/link.svg"
onto_fifo          | FIFO                                        | --out "$dir/fifo.svg"
missing_dir        | never_dir                                   | --out "$dir/never_dir/x.svg"
series_zero        | --plot-series                               | --out "$dir/never.svg" --plot-series 0
series_negative    | --plot-series                               | --out "$dir/never.svg" --plot-series -3
history_huge       | --plot-history                              | --out "$dir/never.svg" --plot-history 1e99
origins_zero       | --origins                                   | --out "$dir/never.svg" --origins 0
unknown_column     | nope                                        | --out "$dir/never.svg" --columns nope
unknown_kind_col   | no column 'nope'                            | --out "$dir/never.svg" --kind backtest --backtest-series nope
ROWS
expect_error onto_model "is the same file as --model" "$bin" plot --model "$dir/model.svg" --data "$dir/ok.csv" --out "$dir/model.svg"
cp "$dir/ok.csv" "$dir/data.svg"
expect_error onto_data "is the same file as --data" "$bin" plot --model "$dir/m.ntn" --data "$dir/data.svg" --out "$dir/data.svg"
expect_error too_short "the model forecasts from the last 24" "$bin" plot --model "$dir/m.ntn" --data "$dir/tiny.csv" --columns price --out "$dir/never.svg"
expect_error predict_m4_plot "pictures draw the series of a wide file" "$bin" predict --model "$dir/m.ntn" --data "$dir/ok.csv" --format m4 --plot "$dir/never.svg"
expect_error unseen_series "was not in the training data" "$bin" plot --model "$dir/n.ntn" --data "$dir/ok.csv" --columns volume --out "$dir/never.svg"
# Covariate models: their columns and calendar features come from the file, as in predict.
check covariate_train_plot "$bin" train --data "$dir/ok.csv" --target price --hist-exog volume --calendar dow --input-size 24 --horizon 6 --mlp-units 16x16 --max-steps 30 --batch 8 --quiet --out "$dir/cv.ntn" --plot "$dir/cv.html"
check covariate_report svg "$dir/cv.html" charts=5 "text=price: forecast of the next 6 steps" "text=80% interval"
check covariate_backtest_plot "$bin" backtest --model "$dir/cv.ntn" --data "$dir/ok.csv" --columns price --origins 40 --plot "$dir/cvb.svg"
check covariate_backtest_charts svg "$dir/cvb.svg" charts=3 "text=adaptive 80%"
# A model fitted on each window (prophet) records no learning curve; its forecast is drawn.
"$bin" train --data "$dir/ok.csv" --columns price --model prophet --input-size 60 --horizon 6 --quiet --out "$dir/pr.ntn" > /dev/null
check prophet_forecast "$bin" plot --model "$dir/pr.ntn" --data "$dir/ok.csv" --columns price --out "$dir/pr.html"
check prophet_report svg "$dir/pr.html" charts=4 "text=price: forecast of the next 6 steps"
check prophet_no_curve grep -q "No learning curve recorded" "$dir/pr.html"
expect_error loss_without_curve "records no learning curve" "$bin" plot --model "$dir/pr.ntn" --data "$dir/ok.csv" --columns price --out "$dir/never.svg" --kind loss
expect_error predict_stream_plot "not with --stream" sh -c "seq 1 30 | '$bin' predict --model '$dir/n.ntn' --stream --plot '$dir/never.svg'"
expect_error backtest_ensemble_plot "draws one model's backtest" "$bin" backtest --model "$dir/m.ntn,$dir/m.ntn" --data "$dir/ok.csv" --columns price --plot "$dir/never.svg"
expect_error per_series_plot "not with --per-series" "${train[@]}" --per-series --out "$dir/never_dir2" --plot "$dir/never.svg"
expect_error train_plot_ext "must end in .svg" "${train[@]}" --out "$dir/never.ntn" --plot "$dir/never.png"
expect_error train_plot_onto_out "is the same file as --out" "${train[@]}" --out "$dir/same.svg" --plot "$dir/same.svg"
check nothing_written sh -c "! ls '$dir' | grep -q never"
check fifo_still_fifo test -p "$dir/fifo.svg"
check data_untouched cmp <(head -10 "$dir/ok.csv") "$dir/tiny.csv"
finish
