#!/usr/bin/env bash
# The report as a person sees it: `train --plot report.html` on three series, rendered by headless
# Chromium (Debian's chromium, installed by scripts/setup.sh) into a screenshot and a printed PDF;
# check_render.py then looks for the ink (history, forecasts, interval bands), one forecast chart
# per series and the axis labels, legends, tables and model card. Two pages the check must refuse
# (a blank page; a report of two of the three series) prove it can fail.
# Usage: test_render.sh path/to/ntneural
source "$(dirname "$0")/lib.sh" "$1"
here=$(dirname "$0")
browser=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$browser" ]; then
  echo "FAIL chromium is not installed: run scripts/setup.sh (it installs Debian's chromium)"; exit 1
fi
python3 - "$dir/three.csv" <<'PY'
import datetime, math, sys
day = datetime.date(2020, 1, 1)
with open(sys.argv[1], "w") as f:
    f.write("date,alpha,beta,gamma\n")
    for i in range(500):
        f.write(f"{day + datetime.timedelta(days=i)},{100 + 10 * math.sin(i / 7) + (i % 5) * 0.1:.4f},"
                f"{50 + 0.05 * i + 3 * math.cos(i / 5):.4f},{20 + 2 * math.sin(i / 11) + (i % 3) * 0.2:.4f}\n")
PY
# render NAME HTML: NAME.png (1000 x 4200 screenshot) and NAME.pdf (the page printed).
render() {
  local flags=(--headless --no-sandbox --disable-gpu --disable-dev-shm-usage --hide-scrollbars
               --user-data-dir="$dir/profile" --no-first-run)
  timeout 120 "$browser" "${flags[@]}" --window-size=1000,4200 --screenshot="$dir/$1.png" "file://$2" > /dev/null 2>&1 &&
    timeout 120 "$browser" "${flags[@]}" --no-pdf-header-footer --print-to-pdf="$dir/$1.pdf" "file://$2" > /dev/null 2>&1 &&
    test -s "$dir/$1.png" && test -s "$dir/$1.pdf"
}
look() { /usr/bin/python3 "$here/check_render.py" "$@"; }
expected=(--text date --text "horizon step" --text step --text "coverage of the H steps" --text history
          --text forecast --text "80% interval" --text "95% interval" --text "actual" --text "random walk"
          --text "split 80%" --text "adaptive 80%" --text "training loss" --text "validation loss"
          --text "Model card" --text "training data fingerprint (sha256)" --text "test.mae")

check train_report "$bin" train --data "$dir/three.csv" --input-size 24 --horizon 6 --mlp-units 32x32 --max-steps 100 \
  --batch 16 --val-every 20 --quiet --out "$dir/m.ntn" --plot "$dir/report.html"
check render_report render report "$dir/report.html"
if look "$dir/report.png" "$dir/report.pdf" --series alpha,beta,gamma "${expected[@]}"; then
  passes=$((passes + 1)); else echo "FAIL report_looks_right"; fails=$((fails + 1)); fi
# Negative controls: the same check on a blank page and on a report that lacks a series.
printf '<!DOCTYPE html><html><body></body></html>\n' > "$dir/blank.html"
check render_blank render blank "$dir/blank.html"
check blank_refused sh -c "! /usr/bin/python3 '$here/check_render.py' '$dir/blank.png' '$dir/blank.pdf' --series alpha,beta,gamma"
check plot_two "$bin" plot --model "$dir/m.ntn" --data "$dir/three.csv" --plot-series 2 --out "$dir/two.html"
check render_two render two "$dir/two.html"
check two_series_refused sh -c "! /usr/bin/python3 '$here/check_render.py' '$dir/two.png' '$dir/two.pdf' --series alpha,beta,gamma"
check two_series_accepted /usr/bin/python3 "$here/check_render.py" "$dir/two.png" "$dir/two.pdf" --series alpha,beta
finish
