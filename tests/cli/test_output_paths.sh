#!/usr/bin/env bash
# Hardening, class "output paths": an output is never an input, only regular files are replaced
# (symlinks, FIFOs, devices and directories are refused, saying how to proceed), every input is
# validated before any output exists, stale temporaries are cleaned up, and a failed write to
# stdout is a non-zero exit. Usage: test_output_paths.sh path/to/ntneural
source "$(dirname "$0")/lib.sh" "$1"
make_ok_csv "$dir/ok.csv"
small=(--input-size 24 --horizon 6 --mlp-units 8x8 --max-steps 5 --batch 8 --quiet)
"$bin" train --data "$dir/ok.csv" --columns price "${small[@]}" --out "$dir/m.ntn" > /dev/null \
  || { echo "FAIL setup: cannot train"; exit 1; }
data_sum=$(md5sum < "$dir/ok.csv"); model_sum=$(md5sum < "$dir/m.ntn")
ln -s "$dir/ok.csv" "$dir/link.csv"
ln -s "$dir/m.ntn" "$dir/link.ntn"
mkfifo "$dir/fifo"
mkdir "$dir/adir"

prefix=("$bin" train --data "$dir/ok.csv" --columns price "${small[@]}")
error_table <<T
out_is_data            | --out '$dir/ok.csv' is the same file as --data           | --out "$dir/ok.csv"
out_is_data_relative   | is the same file as --data                               | --out "$dir/adir/../ok.csv"
out_symlink_to_data    | '$dir/link.csv' is a symbolic link                        | --out "$dir/link.csv"
out_symlink_to_model   | is a symbolic link; ntneural replaces only regular files  | --out "$dir/link.ntn"
out_fifo               | '$dir/fifo' is a FIFO                                      | --out "$dir/fifo"
out_directory          | '$dir/adir' is a directory                                 | --out "$dir/adir"
out_device             | '/dev/null' is a character device                          | --out /dev/null
out_is_checkpoint      | --out '$dir/c.ntn' is the same file as --checkpoint        | --out "$dir/c.ntn" --checkpoint "$dir/c.ntn"
checkpoint_is_data     | --checkpoint '$dir/ok.csv' is the same file as --data     | --out "$dir/n.ntn" --checkpoint "$dir/ok.csv"
out_missing_dir        | cannot create                                              | --out "$dir/nodir/m.ntn"
T
check fifo_still_fifo test -p "$dir/fifo"
check dir_still_dir test -d "$dir/adir"
check devnull_still_device test -c /dev/null

prefix=("$bin" quantize --model "$dir/m.ntn")
error_table <<T
quantize_out_is_model  | --out '$dir/m.ntn' is the same file as --model            | --out "$dir/m.ntn"
quantize_out_link      | is a symbolic link                                         | --out "$dir/link.ntn"
quantize_out_is_data   | is the same file as --data                                 | --out "$dir/ok.csv" --data "$dir/ok.csv" --columns price
quantize_bad_data      | cannot open                                                | --out "$dir/q.ntn" --data "$dir/missing.csv"
T
check quantize_bad_data_wrote_nothing test ! -e "$dir/q.ntn"

prefix=("$bin" backtest --model "$dir/m.ntn" --data "$dir/ok.csv" --columns price --origins 20)
error_table <<T
backtest_csv_is_data   | --csv '$dir/ok.csv' is the same file as --data            | --csv "$dir/ok.csv"
backtest_csv_is_model  | --csv '$dir/m.ntn' is the same file as --model            | --csv "$dir/m.ntn"
backtest_csv_fifo      | is a FIFO                                                  | --csv "$dir/fifo"
backtest_csv_device    | '/dev/full' is a character device                          | --csv /dev/full
T
prefix=("$bin" search --data "$dir/ok.csv" --columns price --input-size 24 --horizon 6 --max-steps 3 --origins 5 --grid "lr=0.01")
error_table <<T
search_csv_is_data     | --csv '$dir/ok.csv' is the same file as --data            | --csv "$dir/ok.csv"
T

check data_unchanged test "$(md5sum < "$dir/ok.csv")" = "$data_sum"
check model_unchanged test "$(md5sum < "$dir/m.ntn")" = "$model_sum"

# --csv - prints the table on stdout.
"$bin" backtest --model "$dir/m.ntn" --data "$dir/ok.csv" --columns price --origins 20 --csv - > "$dir/bt.csv"
check csv_dash_header grep -q '^origin,mae,mse,smape,mase,directional_accuracy$' "$dir/bt.csv"
check csv_dash_rows test "$(wc -l < "$dir/bt.csv")" -eq 21

# A temporary left by a writer that was killed (its pid is gone) is removed by the next write;
# one whose writer still runs is left alone.
sleep 0 & dead=$!; wait $dead
echo partial > "$dir/m2.ntn.tmp.$dead"
sleep 30 & alive=$!
echo partial > "$dir/m2.ntn.tmp.$alive"
"$bin" train --data "$dir/ok.csv" --columns price "${small[@]}" --out "$dir/m2.ntn" > /dev/null
check stale_tmp_removed test ! -e "$dir/m2.ntn.tmp.$dead"
check live_tmp_kept test -e "$dir/m2.ntn.tmp.$alive"
kill $alive 2>/dev/null; wait $alive 2>/dev/null
check only_live_tmp_left test "$(ls "$dir" | grep -c 'm2\.ntn\.tmp\.')" -eq 1

# A failed write to stdout is an error (exit 2, one line on stderr), not exit 0.
expect_error stdout_full "cannot write the output to stdout" sh -c "'$bin' predict --model '$dir/m.ntn' --data '$dir/ok.csv' --columns price > /dev/full"
expect_error stdout_full_json "cannot write the output to stdout" sh -c "'$bin' info --json > /dev/full"
finish
