#!/usr/bin/env bash
# Hardening, class "artifacts": a damaged model file never forecasts. Byte flips anywhere (the
# checksum), truncation, the wrong kind of file: each is exit 2 with one line naming the file,
# in every serving mode (fp32 / fp16 / bf16 / int8, batch, --stream, --json, evaluate, backtest,
# quantize). Usage: test_artifacts.sh path/to/ntneural
source "$(dirname "$0")/lib.sh" "$1"
make_ok_csv "$dir/ok.csv"
"$bin" train --data "$dir/ok.csv" --columns price --input-size 24 --horizon 6 --mlp-units 8x8 --max-steps 5 \
  --batch 8 --quiet --out "$dir/m.ntn" > /dev/null || { echo "FAIL setup: cannot train"; exit 1; }
"$bin" quantize --model "$dir/m.ntn" --to int8 --out "$dir/q8.ntn" > /dev/null
"$bin" quantize --model "$dir/m.ntn" --to fp16 --out "$dir/q16.ntn" > /dev/null
"$bin" quantize --model "$dir/m.ntn" --to bf16 --out "$dir/qb16.ntn" > /dev/null

# 60 single-bit flips spread over each file (every byte is flipped by test_artifact_hardening.cpp) (header length, JSON header, metadata, tensors).
flip_all() {  # flip_all NAME FILE CMD... (FILE is replaced by the damaged copy "$dir/bad.ntn")
  local name="$1" file="$2"; shift 2
  local size; size=$(stat -c %s "$file")
  local i pos
  for i in $(seq 0 59); do
    pos=$(( (i * 7919 + 13) % size ))
    python3 -c "
import sys
b = bytearray(open(sys.argv[1], 'rb').read()); p = int(sys.argv[2]); b[p] ^= 1 << (p % 8)
open(sys.argv[3], 'wb').write(b)" "$file" "$pos" "$dir/bad.ntn"
    expect_error "${name}_flip_$pos" "$dir/bad.ntn" "$@"
  done
}
flip_all fp32 "$dir/m.ntn" "$bin" predict --model "$dir/bad.ntn" --data "$dir/ok.csv" --columns price
flip_all int8 "$dir/q8.ntn" "$bin" predict --model "$dir/bad.ntn" --precision int8 --data "$dir/ok.csv" --json
flip_all fp16_stream "$dir/q16.ntn" sh -c "seq 100 130 | '$bin' predict --model '$dir/bad.ntn' --precision fp16 --stream"
flip_all bf16 "$dir/qb16.ntn" "$bin" predict --model "$dir/bad.ntn" --precision bf16 --data "$dir/ok.csv" --columns price

# One changed byte in the tensors (the last 10 bytes: a bias), which parses fine: the checksum.
cp "$dir/m.ntn" "$dir/bad.ntn"
printf 'x' | dd of="$dir/bad.ntn" bs=1 seek=$(( $(stat -c %s "$dir/m.ntn") - 10 )) conv=notrunc 2>/dev/null
prefix=()
error_table <<T
evaluate_flipped   | $dir/bad.ntn: checksum mismatch | "$bin" evaluate --model "$dir/bad.ntn" --data "$dir/ok.csv" --columns price
backtest_flipped   | $dir/bad.ntn: checksum mismatch | "$bin" backtest --model "$dir/bad.ntn" --data "$dir/ok.csv" --columns price --origins 10
quantize_flipped   | $dir/bad.ntn: checksum mismatch | "$bin" quantize --model "$dir/bad.ntn" --out "$dir/never.ntn"
T
check quantize_flipped_wrote_nothing test ! -e "$dir/never.ntn"

head -c 2000 "$dir/m.ntn" > "$dir/trunc.ntn"
: > "$dir/empty.ntn"
mkdir "$dir/adir.ntn"
error_table <<T
truncated          | $dir/trunc.ntn:                 | "$bin" predict --model "$dir/trunc.ntn" --data "$dir/ok.csv"
empty              | $dir/empty.ntn: not a model file | "$bin" predict --model "$dir/empty.ntn" --data "$dir/ok.csv"
csv_as_model       | $dir/ok.csv:                    | "$bin" predict --model "$dir/ok.csv" --data "$dir/ok.csv"
directory_as_model | '$dir/adir.ntn': it is a directory | "$bin" predict --model "$dir/adir.ntn" --data "$dir/ok.csv"
devnull_as_model   | /dev/null: not a model file      | "$bin" predict --model /dev/null --data "$dir/ok.csv"
missing_model      | cannot open '$dir/nope.ntn'     | "$bin" predict --model "$dir/nope.ntn" --data "$dir/ok.csv"
T

# The intact artifacts serve finite forecasts in every mode; --json never prints null.
for m in "m.ntn fp32" "q8.ntn int8" "q16.ntn fp16" "qb16.ntn bf16"; do
  set -- $m
  "$bin" predict --model "$dir/$1" --precision "$2" --data "$dir/ok.csv" --json > "$dir/p.json"
  check "json_no_null_$2" python3 -c "import json,sys; t=open(sys.argv[1]).read(); assert 'null' not in t; json.loads(t)" "$dir/p.json"
done
finish
