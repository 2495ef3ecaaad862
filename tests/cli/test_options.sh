#!/usr/bin/env bash
# Hardening, class "options": every integer / size / real option and config field is parsed by
# one validated parser; negative, huge, malformed and out-of-range values are a one-line error
# (exit 2) naming the option and the accepted range. Usage: test_options.sh path/to/ntneural
source "$(dirname "$0")/lib.sh" "$1"
make_ok_csv "$dir/ok.csv"
"$bin" train --data "$dir/ok.csv" --columns price --input-size 24 --horizon 6 --mlp-units 8x8 --max-steps 5 \
  --batch 8 --quiet --out "$dir/m.ntn" > /dev/null || { echo "FAIL setup: cannot train"; exit 1; }

# (Each option appears once per command line: CLI11 rejects a repeated one.)
prefix=("$bin" train --data "$dir/ok.csv" --quiet --out "$dir/out.ntn")
error_table <<'T'
# name               | fragment                                                        | arguments
batch_negative       | --batch: '-1' is out of range (expected an integer in 1..65536) | --batch -1
batch_zero           | --batch: 0 is out of range                                      | --batch 0
batch_huge           | --batch: 18446744073709551615 is out of range                   | --batch 18446744073709551615
batch_overflow       | --batch: '99999999999999999999' is out of range                 | --batch 99999999999999999999
batch_exponent       | --batch: '1e3' is not a plain integer                           | --batch 1e3
batch_fraction       | --batch: '2.5' is not a plain integer                           | --batch 2.5
batch_text           | --batch: '8x' is not a plain integer                            | --batch 8x
val_batch_negative   | --val-batch: '-1' is out of range                               | --val-batch -1
max_steps_negative   | --max-steps: '-1' is out of range                               | --max-steps -1
max_steps_zero       | --max-steps: 0 is out of range                                  | --max-steps 0
epochs_huge          | --epochs: 10000000 is out of range                              | --epochs 10000000
patience_negative    | --patience: '-1' is out of range                                | --patience -1
auto_candidates_zero | --auto-candidates: 0 is out of range                            | --auto --auto-candidates 0
auto_candidates_neg  | --auto-candidates: '-3' is out of range                         | --auto --auto-candidates -3
auto_candidates_huge | --auto-candidates: 99999 is out of range                        | --auto --auto-candidates 99999
auto_eta_one         | --auto-eta: 1 is out of range                                   | --auto --auto-eta 1
auto_seed_negative   | --auto-seed: '-1' is out of range                               | --auto --auto-seed -1
auto_metric_unknown  | --auto-metric: rmse not in                                      | --auto --auto-metric rmse
auto_space_bad_json  | --auto-space: '{lr' is neither a readable file nor valid JSON   | --auto --auto-space {lr
auto_space_not_obj   | --auto-space: expected a JSON object                            | --auto --auto-space [1]
auto_prophet         | --auto: prophet is fitted on each window directly               | --model prophet --auto
auto_no_validation   | --auto scores candidates on the validation part: --val-every    | --auto --val-every 0
auto_resume          | --auto cannot --resume                                          | --auto --resume --checkpoint /tmp/x.ck
ensemble_negative    | --ensemble: '-1' is out of range (expected an integer in 0..256) | --ensemble -1
ensemble_huge        | --ensemble: 257 is out of range                                 | --ensemble 257
ensemble_text        | --ensemble: 'three' is not a plain integer                      | --ensemble three
ensemble_combine     | --ensemble-combine: max not in                                  | --ensemble 3 --ensemble-combine max
ensemble_prophet     | --ensemble: prophet is fitted on each window directly           | --model prophet --ensemble 3
ensemble_model       | --ensemble: the members' model is --model (not ensemble)        | --model ensemble --ensemble 3
ensemble_checkpoint  | --ensemble trains its members one after the other and keeps no  | --ensemble 2 --checkpoint /tmp/x.ck
ensemble_deepar      | the median of distribution parameters is no distribution        | --model deepar --ensemble 2
ensemble_covariates  | --ensemble: members take no covariates                          | --columns price --hist-exog volume --ensemble 2
val_metric_unknown   | --val-metric: rmse not in                                       | --val-metric rmse
precision_unknown    | --precision: fp16 not in                                        | --precision fp16
precision_empty      | --precision:                                                    | --precision ""
seed_negative        | --seed: '-1' is out of range (expected an integer >= 0)         | --seed -1
seed_hex             | --seed: '0x10' is not a plain integer                           | --seed 0x10
horizon_max_u64      | --horizon: 18446744073709551615 is out of range                 | --horizon 18446744073709551615
horizon_zero         | --horizon: 0 is out of range                                    | --horizon 0
input_size_huge      | --input-size: 2000000 is out of range                           | --input-size 2000000
set_unknown_field    | nhits config: unknown field 'poolin'                            | --set poolin=avg
set_bad_value        | nhits config: field 'dropout': 2 is out of range                | --set dropout=2
set_negative_width   | field 'mlp_units'                                               | --set mlp_units=[[-8,8]]
set_wrong_type       | nhits config: field 'pooling'                                   | --set pooling=[1]
set_no_equals        | --set 'pooling': expected key=value                             | --set pooling
set_empty_value      | --set pooling=: empty value                                     | --set pooling=
set_type             | --set type=...: choose the model with --model                   | --set type=mlp
set_mlp_on_nhits     | nhits config: unknown field 'hidden_size'                       | --set hidden_size=8
layers_huge          | --layers: 30000 is out of range (expected an integer in 1..256) | --model mlp --layers 30000
hidden_negative      | --hidden: '-5' is out of range                                  | --model mlp --hidden -5
hidden_on_nhits      | --hidden: nhits has no single hidden width                      | --hidden 8
tcn_kernel_zero      | tcn config: field 'kernel_size': 0 is out of range              | --model tcn --set kernel_size=0
tcn_channels_neg     | tcn config: field 'channels'[0]: -64 is out of range            | --model tcn --set channels=[-64]
tcn_field_huge       | give a receptive field over 1048576 steps                       | --model tcn --set dilation_base=64 --layers 5
prophet_cp_negative  | prophet config: field 'n_changepoints': -1 is out of range      | --model prophet --set n_changepoints=-1
prophet_prior_nan    | field 'changepoint_prior_scale': "nan" is not a number          | --model prophet --set changepoint_prior_scale=nan
prophet_paths_huge   | field 'uncertainty_samples': 1000000 is out of range            | --model prophet --set uncertainty_samples=1000000
prophet_period_neg   | seasonalities[0]: field 'period': -24 is out of range           | --model prophet --set seasonalities=[-24]
prophet_order_huge   | seasonalities[0]: field 'order': 100000 is out of range         | --model prophet --set 'seasonalities=[{"period":24,"order":100000}]'
prophet_columns_huge | field 'seasonalities': 6000 Fourier columns (at most 4096)      | --model prophet --set 'seasonalities=[{"period":24,"order":1000},{"period":12,"order":1000},{"period":6,"order":1000}]'
prophet_cap_huge     | prophet config: field 'cap': 1e+40 is out of range              | --model prophet --set cap=1e40
prophet_yearly_neg   | field 'yearly_seasonality': -3 is out of range                  | --model prophet --set yearly_seasonality=-3
prophet_range_big    | field 'changepoint_range': 1.5 is out of range                  | --model prophet --set changepoint_range=1.5
prophet_growth_bad   | prophet config: field 'growth': 'cubic'                         | --model prophet --set growth=cubic
prophet_no_cap       | logistic growth needs a carrying capacity                       | --model prophet --set growth=logistic
micro_zero           | --micro-batches: 0 is out of range                              | --micro-batches 0
threads_negative     | --threads: '-2' is out of range                                 | --threads -2
lr_decays_huge       | --lr-decays: 1000 is out of range                               | --lr-decays 1000
mlp_units_suffix     | --mlp-units: '16abc' is not a plain integer                     | --mlp-units 16x16abc
mlp_units_negative   | --mlp-units: '-16' is out of range                              | --mlp-units -16x16
mlp_units_empty_item | --mlp-units: item 2                                             | --mlp-units 16x16,,16x16
mlp_units_no_x       | --mlp-units: '16' is not WIDTHxWIDTH                            | --mlp-units 16
quantiles_empty_item | --quantiles: item 2 of '0.1,,0.9' is empty                      | --loss mq --quantiles 0.1,,0.9
quantiles_trailing   | --quantiles: item 3                                             | --loss mq --quantiles 0.1,0.9,
quantiles_one        | --quantiles: '1' is out of range (expected a number in (0, 1))  | --loss mq --quantiles 0.5,1
quantiles_nan        | --quantiles: 'nan' is not a finite number                       | --loss mq --quantiles nan
quantiles_order      | quantile levels must increase                                   | --loss mq --quantiles 0.9,0.1
dropout_nan          | --dropout: 'nan' is not a finite number                         | --dropout nan
dropout_one          | --dropout: '1' is out of range (expected a number in [0, 1))    | --dropout 1
clip_negative        | --clip: '-1' is out of range                                    | --clip -1
lr_zero              | --lr: '0' is out of range (expected a number in (0, 10])        | --lr 0
lr_inf               | --lr: 'inf' is not a finite number                              | --lr inf
lr_double_sign       | --lr: '+-0.1' is not a number                                   | --lr +-0.1
lr_text              | --lr: 'fast' is not a number                                    | --lr fast
weight_decay_neg     | --weight-decay: '-0.1' is out of range                          | --weight-decay -0.1
huber_zero           | --huber-delta: '0' is out of range                              | --loss huber --huber-delta 0
min_delta_neg        | --min-delta: '-1' is out of range                               | --min-delta -1
val_ratio_one        | --val-ratio: '1' is out of range                                | --val-ratio 1
test_ratio_neg       | --test-ratio: '-0.2' is out of range                            | --test-ratio -0.2
season_negative      | --season: '-24' is out of range                                 | --season -24
columns_twice        | column 'price' is selected twice                                | --columns price,price
columns_empty_item   | --columns: item 2 of 'price,' is empty                          | --columns price,
config_pool_negative | nhits config: field 'pool_kernel'[0]: -1 is out of range        | --config '{"pool_kernel":[-1,1,1]}'
config_blocks_neg    | nhits config: field 'n_blocks'[0]: -1 is out of range           | --config '{"n_blocks":[-1,1,1]}'
config_width_huge    | more than 268435456 parameters                                  | --config '{"mlp_units":[[60000,60000]]}'
config_unknown       | nhits config: unknown field 'n_blokcs'                          | --config '{"n_blokcs":[1,1,1]}'
config_harmonics     | nbeats config: field 'n_harmonics': 1e+16 is not an integer     | --model nbeats --config '{"n_harmonics":1e16}'
config_string_width  | field 'mlp_units'[0]: "8" is not an integer                     | --config '{"mlp_units":[["8",8]]}'
config_not_object    | --config: expected a JSON object                                | --config '[1,2]'
option_unknown       | --bogus                                                         | --bogus 3
option_missing_value | --batch                                                         | --batch
T

expect_error bt_weights_nan "--weights: 'nan' is not a finite number" "$bin" backtest --data "$dir/ok.csv" \
  --columns price --model "$dir/m.ntn,$dir/m.ntn" --ensemble weighted --weights nan,0.5
expect_error bt_models_empty_item "--model: item 2" "$bin" backtest --data "$dir/ok.csv" --columns price \
  --model "$dir/m.ntn,,$dir/m.ntn"
prefix=("$bin" backtest --model "$dir/m.ntn" --data "$dir/ok.csv" --columns price)
error_table <<'T'
bt_step_overflow     | --step: 2305843009213693952 is out of range                     | --origins 9 --step 2305843009213693952
bt_origins_zero      | --origins: 0 is out of range                                    | --origins 0
bt_origins_past_end  | 1000 origins 1 apart need at least 1029                         | --origins 1000
bt_span_past_end     | 9 origins 100 apart need at least 830                           | --origins 9 --step 100
bt_refit_negative    | --refit-every: '-1' is out of range                             | --refit-every -1
T

prefix=("$bin" search --data "$dir/ok.csv" --columns price --input-size 24 --horizon 6 --max-steps 3)
error_table <<'T'
search_step_overflow | --step: 2305843009213693952 is out of range                     | --origins 9 --step 2305843009213693952 --grid "lr=0.1"
search_past_end      | too few for horizon 6 and 100 origins 10 apart                  | --origins 100 --step 10 --grid "lr=0.1"
search_unknown_key   | nhits config: unknown field 'lrr'                               | --grid "lrr=0.1|0.2"
search_bool_lr       | training config: field 'lr': true is not a number               | --grid "lr=true|0.1"
search_neg_width     | field 'mlp_units'[0]: -8 is out of range                        | --grid "mlp_units=[[8,8]]|[[-8,8]]"
search_random_neg    | --random: '-1' is out of range                                  | --random -1 --grid "lr=0.1"
search_empty_value   | grid: key 'lr' has an empty value                               | --grid "lr=0.1||0.2"
T

prefix=("$bin" predict --model "$dir/m.ntn" --data "$dir/ok.csv" --columns price)
error_table <<'T'
predict_batch_neg    | --batch: '-1' is out of range                                   | --batch -1
predict_cache_huge   | --cache: 1000000000 is out of range                             | --cache 1000000000
T

# CSV headers become JSON (artifact metadata): a non-UTF-8 name is an error before training.
{ printf 'date,pr\xe9ce\n'; tail -n +2 "$dir/ok.csv" | cut -d, -f1,2; } > "$dir/latin1.csv"
expect_error csv_header_not_utf8 "latin1.csv:1: the header name in column 2 is not valid UTF-8" \
  "$bin" train --data "$dir/latin1.csv" --quiet --out "$dir/l.ntn"
{ printf '\xef\xbb\xbf'; cat "$dir/ok.csv"; } > "$dir/bom.csv"
check csv_bom_first_column "$bin" train --data "$dir/bom.csv" --time-column date --columns price --input-size 24 \
  --horizon 6 --mlp-units 8x8 --max-steps 3 --batch 8 --quiet --out "$dir/bom.ntn"
# Out of memory (a 3 GB address-space limit; sizes inside the limits): one line, exit 2, no
# library text such as std::bad_alloc. (Skipped for sanitizer builds, which cannot start there.)
if sh -c "ulimit -v 3000000; exec '$bin' info" > /dev/null 2>&1; then
  expect_error out_of_memory "out of memory" sh -c "ulimit -v 3000000; exec '$bin' train --data '$dir/ok.csv' \
    --columns price --input-size 24 --horizon 6 --batch 60000 --mlp-units 4096x4096 --max-steps 2 --quiet --out '$dir/x.ntn'"
fi
expect_error bench_reps_zero "--reps: 0 is out of range" "$bin" bench train --reps 0
expect_error bench_points_neg "--points: '-5' is out of range" "$bin" bench data --points -5
expect_error bench_fit_reps_zero "--reps: 0 is out of range" "$bin" bench fit --data "$dir/ok.csv" --column price --reps 0
expect_error bench_fit_two_series "bench fit fits one series; name it with --column (columns: price, volume)" \
  "$bin" bench fit --data "$dir/ok.csv"
expect_error bench_fit_bad_field "prophet config: field 'growth': 'cubic'" "$bin" bench fit --data "$dir/ok.csv" \
  --column price --set growth=cubic
expect_error info_threads_neg "--threads: '-1' is out of range" "$bin" info --threads -1
check help_exits_zero "$bin" train --help
check version_exits_zero "$bin" --version
# --set reaches the stored model config (the flags are aliases of the same fields).
"$bin" train --data "$dir/ok.csv" --columns price --input-size 24 --horizon 6 --max-steps 2 --batch 8 --quiet \
  --set 'mlp_units=[[8,8]]' --set pooling=avg --out "$dir/set.ntn" > /dev/null
check set_stored_in_artifact grep -q 'pooling\\":\\"avg' "$dir/set.ntn"
finish
