#!/usr/bin/env bash
# End-to-end checks of the ntneural binary: every bad input is a one-line error (exit 2) that
# names the problem; a tiny train -> evaluate -> predict round trip works and keeps its promises.
# Usage: test_cli.sh path/to/ntneural
source "$(dirname "$0")/lib.sh" "$1"
make_ok_csv "$dir/ok.csv"
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

# --precision: fp32 or bf16 only; bf16 without AVX512_BF16 (here forced by NTN_ISA=avx2) is a
# one-line error naming it and writes nothing; where the CPU has it, bf16 trains a servable model.
expect_error precision_fp16 "--precision" "${train[@]}" --data "$dir/ok.csv" --precision fp16 --out "$dir/p16.ntn"
expect_error precision_no_bf16 "AVX512_BF16" env NTN_ISA=avx2 "${train[@]}" --data "$dir/ok.csv" --precision bf16 --out "$dir/pbf.ntn"
check precision_no_bf16_no_file test ! -e "$dir/pbf.ntn"
if grep -q avx512_bf16 /proc/cpuinfo; then
  check precision_bf16_trains "${train[@]}" --data "$dir/ok.csv" --precision bf16 --out "$dir/pbf.ntn"
  check precision_bf16_predicts "$bin" predict --model "$dir/pbf.ntn" --data "$dir/ok.csv"
fi

# --per-series: one model per column, each bitwise the model of that column trained alone (on 1 or
# 2 threads), a summary listing every series; misuse is a clear error.
ps=("$bin" train --data "$dir/ok.csv" --input-size 24 --horizon 6 --mlp-units 16x16 --max-steps 20 --batch 8 --quiet)
check per_series_threads_1 "${ps[@]}" --per-series --threads 1 --out "$dir/ps1"
check per_series_threads_2 "${ps[@]}" --per-series --threads 2 --out "$dir/ps2"
check per_series_alone "${ps[@]}" --columns volume --out "$dir/volume_alone.ntn"
check per_series_files test -f "$dir/ps1/0_price.ntn" -a -f "$dir/ps1/1_volume.ntn" -a -f "$dir/ps1/summary.json"
digest() { python3 "$(dirname "$0")/../dist/weights_digest.py" "$1" | cut -d' ' -f1; }
check per_series_equals_alone test "$(digest "$dir/ps1/1_volume.ntn")" = "$(digest "$dir/volume_alone.ntn")"
check per_series_threads_equal test "$(digest "$dir/ps1/0_price.ntn")" = "$(digest "$dir/ps2/0_price.ntn")"
check per_series_models_differ test "$(digest "$dir/ps1/0_price.ntn")" != "$(digest "$dir/ps1/1_volume.ntn")"
check per_series_summary python3 -c "
import json, sys; d = json.load(open('$dir/ps1/summary.json'))
sys.exit(0 if [e['series'] for e in d['per_series']] == ['price', 'volume'] and d['ranks'] == 1 else 1)"
check per_series_predicts sh -c "'$bin' predict --model '$dir/ps1/1_volume.ntn' --data '$dir/ok.csv' --columns volume | grep -q volume"
: > "$dir/a_file"
expect_error per_series_out_is_a_file "exists and is not a directory" "${ps[@]}" --per-series --out "$dir/a_file"
expect_error per_series_auto "not with --auto or --ensemble" "${ps[@]}" --per-series --auto --out "$dir/psx"
expect_error per_series_ensemble "not with --auto or --ensemble" "${ps[@]}" --per-series --ensemble 2 --out "$dir/psx"
expect_error per_series_checkpoint "no --checkpoint / --resume" "${ps[@]}" --per-series --checkpoint "$dir/ck" --out "$dir/psx"

# A single-quantile model: one output column in the header and in every row.
"${train[@]}" --data "$dir/ok.csv" --columns price --loss mq --quantiles 0.5 --out "$dir/q1.ntn" > /dev/null
"$bin" predict --model "$dir/q1.ntn" --data "$dir/ok.csv" --columns price > "$dir/q1.csv"
check single_quantile_header test "$(head -1 "$dir/q1.csv")" = "series,step,q0.5,lo80,hi80,lo95,hi95"
check single_quantile_rows awk -F, 'NF != 7 { exit 1 }' "$dir/q1.csv"

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

# Serving: precisions, streaming from stdin (equal to predict on the same last window), cache,
# quantised artifacts and their accuracy report.
for prec in fp16 bf16 int8; do
  "$bin" predict --model "$dir/m.ntn" --data "$dir/ok.csv" --columns price --precision $prec --json > "$dir/pred_$prec.json"
  check "predict_$prec" python3 -c "import json,sys; a=json.load(open(sys.argv[1]))['forecasts']['price']; b=json.load(open(sys.argv[2]))['forecasts']['price']; assert max(abs(x-y) for x,y in zip(a,b)) < 0.05*max(abs(v) for v in b), (a,b)" "$dir/pred_$prec.json" "$dir/pred.json"
done
tail -n +2 "$dir/ok.csv" | cut -d, -f2 | "$bin" predict --model "$dir/m.ntn" --stream --series price --cache 64 > "$dir/stream.csv" 2> "$dir/stream.err"
check stream_lines test "$(wc -l < "$dir/stream.csv")" -eq $((400 - 24 + 1))
check stream_equals_predict python3 -c "import json,sys; last=[float(v) for v in open(sys.argv[1]).read().split()[-1].split(',')]; b=json.load(open(sys.argv[2]))['forecasts']['price']; assert max(abs(x-y) for x,y in zip(last,b)) < 1e-3*max(abs(v) for v in b), (last,b)" "$dir/stream.csv" "$dir/pred.json"
check stream_cache_report grep -q '"misses":377' "$dir/stream.err"
expect_error stream_text "stdin:2: 'abc' is not a number" sh -c "printf '1\nabc\n' | '$bin' predict --model '$dir/m.ntn' --stream"
expect_error stream_nan "stdin:1: 'nan' is not a number" sh -c "printf 'nan\n' | '$bin' predict --model '$dir/m.ntn' --stream"
expect_error predict_needs_data "--data is required" "$bin" predict --model "$dir/m.ntn"
expect_error bad_precision "unknown precision 'int4'" "$bin" predict --model "$dir/m.ntn" --data "$dir/ok.csv" --precision int4
"$bin" quantize --model "$dir/m.ntn" --to int8 --out "$dir/m8.ntn" --data "$dir/ok.csv" --columns price --json > "$dir/q.json"
check quantize_report python3 -c "import json,sys; d=json.load(open(sys.argv[1]))['accuracy']; assert abs(d['mae']['relative_change']) < 0.05 and d['windows'] > 0, d" "$dir/q.json"
"$bin" predict --model "$dir/m8.ntn" --data "$dir/ok.csv" --columns price --precision int8 --json > "$dir/pred_q.json"
check quantized_artifact_serves_like_on_the_fly python3 -c "import json,sys; a=json.load(open(sys.argv[1]))['forecasts']; b=json.load(open(sys.argv[2]))['forecasts']; assert a == b, (a, b)" "$dir/pred_q.json" "$dir/pred_int8.json"
check quantized_artifact_in_python python3 -c "
import json, struct, sys
raw = open(sys.argv[1], 'rb').read(); n = struct.unpack('<Q', raw[:8])[0]; h = json.loads(raw[8:8 + n])
assert h['__metadata__']['precision'] == 'int8'
w = [k for k in h if k.endswith('mlp.1.weight')][0]
assert h[w]['dtype'] == 'I8' and h[w + '.scale']['dtype'] == 'F32', h[w]
" "$dir/m8.ntn"
expect_error quantize_twice "already int8" "$bin" quantize --model "$dir/m8.ntn" --to fp16 --out "$dir/x.ntn"
"$bin" bench predict --model "$dir/m.ntn" --requests 500 --ticks 5 --json > "$dir/bench.json"
check bench_predict_fields python3 -c "import json,sys; d=json.load(open(sys.argv[1])); [d[k] for k in ['latency_p50_us','latency_p99_us','throughput_b1_per_s','throughput_b512_per_s','cache_hit_rate','cache_hit_us','allocs_per_predict','load_first_forecast_ms','peak_rss_mb','floor_read_us','latency_paired_median_us']]; assert d['cache_hit_rate'] > 0.9; assert d['floor_read_us'] > 0 and abs(d['latency_over_floor'] - d['latency_paired_median_us'] / d['floor_read_us']) < 1e-9" "$dir/bench.json"

# --ensemble K: one artifact of K members (input 2H..4H, losses mae / mse / huber), each scored alone
# beside the whole; it evaluates, predicts, quantises and backtests as any model.
"$bin" train --data "$dir/ok.csv" --columns price --horizon 6 --mlp-units 16x16 --max-steps 20 --batch 8 --val-every 10 \
  --ensemble 3 --quiet --json --out "$dir/ens.ntn" > "$dir/ens.json"
check ensemble_members python3 -c "
import json, sys
d = json.load(open(sys.argv[1]))
assert d['model_type'] == 'ensemble' and d['input_size'] == 24, d
m = d['ensemble']['members']
assert [x['input_size'] for x in m] == [12, 18, 24] and [x['loss'] for x in m] == ['mae', 'mse', 'huber'], m
assert all(x['test']['mae'] > 0 for x in m) and d['test']['mae'] > 0
" "$dir/ens.json"
"$bin" evaluate --model "$dir/ens.ntn" --data "$dir/ok.csv" --columns price --json > "$dir/ens_eval.json"
check ensemble_evaluate_equals_train python3 -c "import json,sys; a=json.load(open(sys.argv[1]))['test']; b=json.load(open(sys.argv[2])); assert abs(a['mae']-b['mae']) < 1e-9, (a['mae'], b['mae'])" "$dir/ens.json" "$dir/ens_eval.json"
"$bin" quantize --model "$dir/ens.ntn" --to int8 --out "$dir/ens8.ntn" > /dev/null
"$bin" predict --model "$dir/ens8.ntn" --data "$dir/ok.csv" --json > "$dir/ens_pred.json"
check ensemble_int8_predicts python3 -c "import json,sys; f=json.load(open(sys.argv[1]))['forecasts']['price']; assert len(f) == 6 and all(80 < v < 120 for v in f), f" "$dir/ens_pred.json"
"$bin" backtest --model "$dir/ens.ntn" --data "$dir/ok.csv" --columns price --origins 20 --refit-every 10 --json > "$dir/ens_bt.json"
check ensemble_backtest_refit python3 -c "import json,sys; d=json.load(open(sys.argv[1])); assert d['refits'] == 2 and d['mae'] > 0, d" "$dir/ens_bt.json"

# Backtest: per-origin CSV + JSON, an ensemble, a series too short.
"$bin" backtest --model "$dir/m.ntn" --data "$dir/ok.csv" --columns price --origins 100 --season 7 --csv "$dir/bt.csv" --json > "$dir/bt.json"
check backtest_json python3 -c "import json,sys; d=json.load(open(sys.argv[1])); assert d['origins'] == 100 and len(d['per_origin']) == 100 and d['mae'] > 0 and 'mase' in d and d['naive']['mae'] > 0, d" "$dir/bt.json"
check backtest_csv test "$(wc -l < "$dir/bt.csv")" -eq 101
"$bin" backtest --model "$dir/m.ntn,$dir/m8.ntn" --data "$dir/ok.csv" --columns price --origins 50 --ensemble median --json > "$dir/bt2.json"
check backtest_ensemble grep -q '"ensemble":"median"' "$dir/bt2.json"
"$bin" backtest --model "$dir/m.ntn" --data "$dir/ok.csv" --columns price --origins 40 --refit-every 20 --json > "$dir/bt3.json"
check backtest_refit python3 -c "import json,sys; d=json.load(open(sys.argv[1])); assert d['refits'] == 2 and d['refit_seconds'] > 0 and d['mae'] > 0, d" "$dir/bt3.json"
"$bin" search --data "$dir/ok.csv" --columns price --input-size 24 --horizon 6 --origins 30 --max-steps 10 --grid "mlp_units=[[8,8]]|[[16,16]]; lr=0.01|0.001" --csv "$dir/search.csv" --json > "$dir/search.json"
check search_ranks python3 -c "import json,sys; c=json.load(open(sys.argv[1]))['candidates']; assert len(c) == 4 and [r['rank'] for r in c] == [1,2,3,4] and all(c[i]['mae'] <= c[i+1]['mae'] for i in range(3)), c" "$dir/search.json"
check search_csv test "$(wc -l < "$dir/search.csv")" -eq 5
expect_error search_bad_grid "is not key=value" "$bin" search --data "$dir/ok.csv" --columns price --input-size 24 --horizon 6 --grid "lr"
expect_error backtest_too_short "need at least" "$bin" backtest --model "$dir/m.ntn" --data "$dir/ok.csv" --columns price --origins 1000
expect_error backtest_two_series "backtest runs on one series" "$bin" backtest --model "$dir/m.ntn" --data "$dir/ok.csv"

# Every recurrent model and the TCN through the same artifact and commands as the MLP family: train ->
# evaluate (== train's test metrics) -> predict (file, fp32 == quantised int8 artifact served at
# int8) -> stream -> backtest; batch == single is the contract test's.
for m in gru lstm lstm_attention tcn; do
  "$bin" train --data "$dir/ok.csv" --columns price --model "$m" --input-size 24 --horizon 6 --hidden 8 \
    --set decoder_hidden_size=8 --max-steps 15 --batch 8 --quiet --json --out "$dir/$m.ntn" > "$dir/$m.train.json"
  check "${m}_trains" test -s "$dir/$m.ntn"
  "$bin" evaluate --model "$dir/$m.ntn" --data "$dir/ok.csv" --columns price --json > "$dir/$m.eval.json"
  check "${m}_evaluate_equals_train" python3 -c "import json,sys; a=json.load(open(sys.argv[1]))['test']; b=json.load(open(sys.argv[2])); assert abs(a['mae']-b['mae']) < 1e-9, (a['mae'], b['mae'])" "$dir/$m.train.json" "$dir/$m.eval.json"
  "$bin" quantize --model "$dir/$m.ntn" --to int8 --out "$dir/$m.i8.ntn" --data "$dir/ok.csv" --columns price --json > "$dir/$m.q.json"
  check "${m}_quantize_report" python3 -c "import json,sys; d=json.load(open(sys.argv[1]))['accuracy']; assert abs(d['mae']['relative_change']) < 0.05 and d['windows'] > 0, d" "$dir/$m.q.json"
  "$bin" predict --model "$dir/$m.i8.ntn" --precision int8 --data "$dir/ok.csv" --columns price --json > "$dir/$m.pq.json"
  "$bin" predict --model "$dir/$m.ntn" --precision int8 --data "$dir/ok.csv" --columns price --json > "$dir/$m.p8.json"
  check "${m}_int8_artifact_serves_like_on_the_fly" python3 -c "import json,sys; a=json.load(open(sys.argv[1]))['forecasts']; b=json.load(open(sys.argv[2]))['forecasts']; assert a == b, (a, b)" "$dir/$m.pq.json" "$dir/$m.p8.json"
  for i in $(seq 1 40); do echo "10$((i % 7)).5"; done | "$bin" predict --model "$dir/$m.ntn" --stream > "$dir/$m.stream.out"
  check "${m}_streams" test "$(wc -l < "$dir/$m.stream.out")" -eq 17
  "$bin" backtest --model "$dir/$m.ntn" --data "$dir/ok.csv" --columns price --origins 30 --json > "$dir/$m.bt.json"
  check "${m}_backtest" python3 -c "import json,sys; d=json.load(open(sys.argv[1])); assert d['origins'] == 30 and d['mae'] > 0, d" "$dir/$m.bt.json"
done

# The Transformer through the same artifact and commands (it re-reads its window each tick).
"$bin" train --data "$dir/ok.csv" --columns price --model transformer --input-size 24 --horizon 6 --hidden 8 \
  --set ffn_hidden_size=16 --set label_len=4 --max-steps 15 --batch 8 --quiet --json --out "$dir/tr.ntn" > "$dir/tr.train.json"
"$bin" evaluate --model "$dir/tr.ntn" --data "$dir/ok.csv" --columns price --json > "$dir/tr.eval.json"
check transformer_evaluate_equals_train python3 -c "import json,sys; a=json.load(open(sys.argv[1]))['test']; b=json.load(open(sys.argv[2])); assert abs(a['mae']-b['mae']) < 1e-9, (a['mae'], b['mae'])" "$dir/tr.train.json" "$dir/tr.eval.json"
"$bin" quantize --model "$dir/tr.ntn" --to int8 --out "$dir/tr.i8.ntn" --json > /dev/null
"$bin" predict --model "$dir/tr.i8.ntn" --precision int8 --data "$dir/ok.csv" --columns price --json > "$dir/tr.pq.json"
"$bin" predict --model "$dir/tr.ntn" --precision int8 --data "$dir/ok.csv" --columns price --json > "$dir/tr.p8.json"
check transformer_int8_artifact_serves_like_on_the_fly python3 -c "import json,sys; a=json.load(open(sys.argv[1]))['forecasts']; b=json.load(open(sys.argv[2]))['forecasts']; assert a == b, (a, b)" "$dir/tr.pq.json" "$dir/tr.p8.json"
"$bin" backtest --model "$dir/tr.ntn" --data "$dir/ok.csv" --columns price --origins 20 --json > "$dir/tr.bt.json"
check transformer_backtest python3 -c "import json,sys; d=json.load(open(sys.argv[1])); assert d['origins'] == 20 and d['mae'] > 0, d" "$dir/tr.bt.json"
expect_error transformer_heads "field 'n_head' (3) must divide field 'hidden_size' (8)" "$bin" train --data "$dir/ok.csv" --columns price --model transformer --hidden 8 --set n_head=3 --out "$dir/bad.ntn"

# The Prophet-style model through the same artifact and commands: fitted per window on its dates
# (the calendar channels epoch_day, day_fraction are added because ok.csv has dates), 80% interval
# from simulated paths; evaluate == train; predict forecasts the days after the file; backtest.
"$bin" train --data "$dir/ok.csv" --columns price --model prophet --input-size 60 --horizon 6 --scaler none \
  --loss mq --quantiles 0.1,0.5,0.9 --set uncertainty_samples=200 --quiet --json --out "$dir/pr.ntn" > "$dir/pr.train.json"
check prophet_reads_dates python3 -c "import json,sys; d=json.load(open(sys.argv[1])); assert [c['name'] for c in d['covariates']['futr']] == ['epoch_day', 'day_fraction'] and d['parameters'] == 0, d" "$dir/pr.train.json"
"$bin" evaluate --model "$dir/pr.ntn" --data "$dir/ok.csv" --columns price --json > "$dir/pr.eval.json"
check prophet_evaluate_equals_train python3 -c "import json,sys; a=json.load(open(sys.argv[1]))['test']; b=json.load(open(sys.argv[2])); assert abs(a['mae']-b['mae']) < 1e-9, (a['mae'], b['mae'])" "$dir/pr.train.json" "$dir/pr.eval.json"
"$bin" predict --model "$dir/pr.ntn" --data "$dir/ok.csv" --columns price --json > "$dir/pr.p.json"
check prophet_predicts_intervals python3 -c "import json,sys; r=json.load(open(sys.argv[1]))['forecasts']['price']; assert len(r) == 6 and all(a[0] < a[1] < a[2] for a in r), r" "$dir/pr.p.json"
"$bin" backtest --model "$dir/pr.ntn" --data "$dir/ok.csv" --columns price --origins 10 --json > "$dir/pr.bt.json"
check prophet_backtest python3 -c "import json,sys; d=json.load(open(sys.argv[1])); assert d['origins'] == 10 and d['mae'] > 0, d" "$dir/pr.bt.json"
expect_error evaluate_other_scaler "--scaler standard: the model was trained on series scaled by 'none'" "$bin" evaluate --model "$dir/pr.ntn" --data "$dir/ok.csv" --columns price --scaler standard
expect_error prophet_calendar_without_dates "calendar seasonalities need dates" "$bin" train --data "$dir/ok.csv" --columns price --model prophet --input-size 60 --set timestamps=false --set yearly_seasonality=true --out "$dir/bad.ntn"

# DeepAR: the nll loss is its default; evaluate adds the sample-path scores (CRPS, coverage) and
# equals train's; predict prints mean / median / quantiles of the paths (--paths-out writes them,
# --params the per-step parameters); int8, stream and backtest through the same artifact.
"$bin" train --data "$dir/ok.csv" --columns price --model deepar --input-size 24 --horizon 6 --hidden 8 \
  --max-steps 15 --batch 8 --quiet --json --out "$dir/dar.ntn" > "$dir/dar.train.json"
check deepar_trains_by_likelihood python3 -c "import json,sys; d=json.load(open(sys.argv[1])); p=d['test']['probabilistic']; assert p['paths'] == 100 and p['crps'] > 0 and [i['level'] for i in p['intervals']] == [0.8, 0.9] and 0 <= p['intervals'][0]['coverage'] <= p['intervals'][1]['coverage'] <= 1, p" "$dir/dar.train.json"
"$bin" evaluate --model "$dir/dar.ntn" --data "$dir/ok.csv" --columns price --json > "$dir/dar.eval.json"
check deepar_evaluate_equals_train python3 -c "import json,sys; a=json.load(open(sys.argv[1]))['test']; b=json.load(open(sys.argv[2])); assert a['probabilistic'] == b['probabilistic'] and a['mae'] == b['mae'], (a, b)" "$dir/dar.train.json" "$dir/dar.eval.json"
"$bin" predict --model "$dir/dar.ntn" --data "$dir/ok.csv" --columns price --paths 50 --quantiles 0.05,0.95 --paths-out "$dir/dar.paths.csv" > "$dir/dar.pred.csv"
check deepar_predict_header test "$(head -1 "$dir/dar.pred.csv")" = "series,step,mean,median,q0.05,q0.95"
check deepar_predict_rows test "$(wc -l < "$dir/dar.pred.csv")" -eq 7
check deepar_paths_out test "$(wc -l < "$dir/dar.paths.csv")" -eq 51
check deepar_quantiles_ordered python3 -c "import csv,sys; r=list(csv.DictReader(open(sys.argv[1]))); assert all(float(x['q0.05']) <= float(x['median']) <= float(x['q0.95']) for x in r), r" "$dir/dar.pred.csv"
"$bin" predict --model "$dir/dar.ntn" --data "$dir/ok.csv" --columns price --params > "$dir/dar.params.csv"
check deepar_params_header test "$(head -1 "$dir/dar.params.csv")" = "series,step,mu,sigma,nu,lo80,hi80,lo95,hi95"
"$bin" predict --model "$dir/dar.ntn" --data "$dir/ok.csv" --columns price --seed 3 --json > "$dir/dar.s3a.json"
"$bin" predict --model "$dir/dar.ntn" --data "$dir/ok.csv" --columns price --seed 3 --json --threads 1 > "$dir/dar.s3b.json"
check deepar_seeded python3 -c "import json,sys; a=json.load(open(sys.argv[1]))['forecasts']; b=json.load(open(sys.argv[2]))['forecasts']; assert a == b" "$dir/dar.s3a.json" "$dir/dar.s3b.json"
"$bin" quantize --model "$dir/dar.ntn" --to int8 --out "$dir/dar.i8.ntn" --data "$dir/ok.csv" --columns price --json > "$dir/dar.q.json"
check deepar_quantize_report python3 -c "import json,sys; d=json.load(open(sys.argv[1]))['accuracy']; assert d['windows'] > 0, d" "$dir/dar.q.json"
"$bin" predict --model "$dir/dar.i8.ntn" --precision int8 --data "$dir/ok.csv" --columns price --json > "$dir/dar.pq.json"
check deepar_int8_samples python3 -c "import json,sys; d=json.load(open(sys.argv[1]))['forecasts']['price']; assert len(d['mean']) == 6" "$dir/dar.pq.json"
for i in $(seq 1 40); do echo "10$((i % 7)).5"; done | "$bin" predict --model "$dir/dar.ntn" --stream > "$dir/dar.stream.out"
check deepar_streams test "$(wc -l < "$dir/dar.stream.out")" -eq 17
# Without a window scaler (and mean scaling) DeepAR carries its LSTM state over the stream: a
# stream stopped with --state and resumed prints what the unbroken stream prints, and the
# forecast depends on ticks older than the window.
"$bin" train --data "$dir/ok.csv" --columns price --model deepar --input-size 24 --horizon 6 --hidden 8 \
  --window-scaler none --max-steps 5 --batch 8 --quiet --out "$dir/darc.ntn"
for i in $(seq 1 30); do echo "10$((i % 7)).5"; done > "$dir/darc.a.txt"
for i in $(seq 1 30); do echo "10$((i % 5)).25"; done > "$dir/darc.b.txt"
cat "$dir/darc.a.txt" "$dir/darc.b.txt" | "$bin" predict --model "$dir/darc.ntn" --stream | tail -n 1 > "$dir/darc.whole"
"$bin" predict --model "$dir/darc.ntn" --stream --state "$dir/darc.st" < "$dir/darc.a.txt" > /dev/null
"$bin" predict --model "$dir/darc.ntn" --stream --state "$dir/darc.st" < "$dir/darc.b.txt" | tail -n 1 > "$dir/darc.resumed"
check deepar_carried_state_resumes cmp "$dir/darc.whole" "$dir/darc.resumed"
check deepar_carried_state_forecasts test -s "$dir/darc.whole"
# the carried state remembers ticks older than the window (a window re-read would not)
"$bin" predict --model "$dir/darc.ntn" --stream < "$dir/darc.b.txt" | tail -n 1 > "$dir/darc.bonly"
check deepar_carried_state_remembers sh -c "! cmp -s '$dir/darc.whole' '$dir/darc.bonly'"
"$bin" backtest --model "$dir/dar.ntn" --data "$dir/ok.csv" --columns price --origins 30 --json > "$dir/dar.bt.json"
check deepar_backtest python3 -c "import json,sys; d=json.load(open(sys.argv[1])); assert d['origins'] == 30 and d['mae'] > 0, d" "$dir/dar.bt.json"
"$bin" train --data "$dir/ok.csv" --columns volume --scaler none --model deepar --loss nll --distribution negative_binomial \
  --input-size 24 --horizon 6 --hidden 8 --max-steps 15 --batch 8 --quiet --json --out "$dir/nb.ntn" > "$dir/nb.train.json"
"$bin" predict --model "$dir/nb.ntn" --data "$dir/ok.csv" --columns volume --paths 20 --paths-out "$dir/nb.paths.csv" > /dev/null
check negbin_paths_are_counts python3 -c "import csv,sys; r=list(csv.reader(open(sys.argv[1])))[1:]; v=[float(x) for row in r for x in row[2:]]; assert len(v) == 120 and all(x >= 0 and x == int(x) for x in v), v[:10]" "$dir/nb.paths.csv"
printf 't,price\n' > "$dir/neg.csv"; for i in $(seq 1 80); do echo "$i,$((i % 5 - 1))" >> "$dir/neg.csv"; done
prefix=("$bin" train --input-size 24 --horizon 6 --max-steps 2 --quiet --out "$dir/x.ntn")
error_table <<'ROWS'
deepar_point_loss | the mae loss trains a point output, but model 'deepar' outputs distribution (train it with --loss nll | --data "$dir/ok.csv" --columns price --model deepar --loss mae
nhits_nll        | the nll loss trains a distribution output, but model 'nhits' outputs point, quantiles | --data "$dir/ok.csv" --columns price --loss nll
distribution_without_nll | a distribution (gaussian) is given for the mae loss; use --loss nll | --data "$dir/ok.csv" --columns price --distribution gaussian
unknown_distribution | unknown distribution 'poisson' | --data "$dir/ok.csv" --columns price --model deepar --distribution poisson
negbin_scaled    | the negative_binomial loss models counts, which a standard scaler would change: use --scaler none | --data "$dir/ok.csv" --columns volume --model deepar --distribution negative_binomial
negbin_mean_scaler | which a mean scaler would change | --data "$dir/ok.csv" --columns volume --scaler mean --model deepar --distribution negative_binomial
negbin_window    | which the standard window scaler would shift: drop --window-scaler | --data "$dir/ok.csv" --columns volume --scaler none --window-scaler standard --model deepar --distribution negative_binomial
negbin_negative  | series 'price': value -1 at row 5 is negative; the negative_binomial loss models counts | --data "$dir/neg.csv" --scaler none --model deepar --distribution negative_binomial
ROWS
prefix=("$bin" predict --data "$dir/ok.csv" --columns price)
error_table <<'ROWS'
params_on_point  | --params and --paths-out apply to distribution models (this one outputs point) | --model "$dir/m.ntn" --params
paths_zero       | --paths | --model "$dir/dar.ntn" --paths 0
paths_negative   | --paths | --model "$dir/dar.ntn" --paths -5
cache_sampled    | --cache serves point forecasts; a distribution model's forecast is sampled | --model "$dir/dar.ntn" --cache 10
paths_out_is_model | --paths-out | --model "$dir/dar.ntn" --paths-out "$dir/dar.ntn"
ROWS
prefix=("$bin" evaluate --data "$dir/ok.csv" --columns price --model "$dir/dar.ntn")
error_table <<'ROWS'
interval_one     | --intervals | --intervals 1.0
interval_text    | --intervals | --intervals wide
ROWS

finish
