#!/usr/bin/env python3
"""Looks at a report the way a person would, from what headless Chromium rendered.

check_render.py SHOT.png PAGE.pdf --series a,b,c --text T1 --text T2 ...
  SHOT.png: a screenshot of the report; PAGE.pdf: the same page printed (its text is what the
  browser laid out: titles, axis labels, legend items, tables).
The screenshot must not be blank (2-60% of its pixels not white) and must show the report's ink:
history lines (#333), forecasts (#1f77b4), interval bands (light blue) and a second series colour
(#ff7f0e, step-H forecasts and the validation loss). The printed text must hold one forecast
chart per series ("NAME: forecast of the next"), no more, and every --text. Exits 1 naming what
is missing.
"""
import argparse
import re
import subprocess
import sys

from PIL import Image


def near(c, ref, tol):
    return all(abs(a - b) <= tol for a, b in zip(c, ref))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("shot")
    ap.add_argument("pdf")
    ap.add_argument("--series", required=True)
    ap.add_argument("--text", action="append", default=[])
    a = ap.parse_args()
    fails = []
    im = Image.open(a.shot).convert("RGB")
    W, H = im.size
    counts = {"ink": 0, "history": 0, "forecast": 0, "band": 0, "orange": 0}
    for (r, g, b) in im.getdata():
        if r < 245 or g < 245 or b < 245:
            counts["ink"] += 1
        if near((r, g, b), (0x33, 0x33, 0x33), 12):
            counts["history"] += 1
        elif near((r, g, b), (0x1F, 0x77, 0xB4), 16):
            counts["forecast"] += 1
        elif near((r, g, b), (0xFF, 0x7F, 0x0E), 20):
            counts["orange"] += 1
        elif r >= 150 and b >= r + 12 and g >= r and b < 250:
            counts["band"] += 1
    share = counts["ink"] / float(W * H)
    print(f"{a.shot}: {W}x{H}, {share:.1%} ink, " + ", ".join(f"{k} {v}" for k, v in counts.items() if k != "ink"))
    if not 0.02 <= share <= 0.60:
        fails.append(f"screenshot is blank or garbage: {share:.1%} of the pixels are not white")
    for k, least in (("history", 300), ("forecast", 500), ("band", 2000), ("orange", 100)):
        if counts[k] < least:
            fails.append(f"screenshot shows {counts[k]} {k} pixels (need {least})")
    text = subprocess.run(["pdftotext", a.pdf, "-"], check=True, capture_output=True, text=True).stdout
    flat = re.sub(r"\s+", " ", text)
    titles = re.findall(r"(\S+): forecast of the next", flat)
    series = a.series.split(",")
    print(f"{a.pdf}: {len(flat)} characters; forecast charts of {titles}")
    if sorted(titles) != sorted(series):
        fails.append(f"forecast charts of {titles}, expected one for each of {series}")
    for t in a.text:
        if t not in flat:
            fails.append(f"the page does not show '{t}'")
    for f in fails:
        print("FAIL " + f)
    sys.exit(1 if fails else 0)


main()
