#!/usr/bin/env python3
"""Checks ntneural's pictures as XML: check_svg.py FILE [key=value ...].

FILE is an .svg (parsed whole) or an .html report (each inline <svg> parsed alone). Every SVG must
be well-formed XML (expat), in the SVG namespace, with a title. Conditions (all must hold):
  charts=N      N charts in all          series_min=N  at least N drawn lines (path.series)
  text=T        some text element reads T (axis label, legend item, title, tick)
  notext=T      no text element reads T
  legend=N      at least N legend items  bands_min=N   at least N interval bands
Prints what it found; exits 1 naming the first condition that fails.
"""
import re
import sys
import xml.etree.ElementTree as ET

NS = "{http://www.w3.org/2000/svg}"


def svgs(path):
    data = open(path, encoding="utf-8").read()
    if path.endswith(".svg"):
        return [ET.fromstring(data.encode("utf-8"))]
    blocks = re.findall(r"<svg\b.*?</svg>", data, flags=re.S)
    assert blocks, f"{path}: no inline <svg>"
    assert data.count("<svg") == len(blocks), f"{path}: an <svg> is not closed"
    return [ET.fromstring(b) for b in blocks]


def main():
    path, conds = sys.argv[1], sys.argv[2:]
    roots = svgs(path)
    texts, charts, series, legend, bands = [], 0, 0, 0, 0
    for r in roots:
        assert r.tag == NS + "svg", f"{path}: root element {r.tag}"
        assert r.find(NS + "title") is not None, f"{path}: an svg without <title>"
        for g in r.iter(NS + "g"):
            charts += g.get("class") == "chart"
        for p in r.iter(NS + "path"):
            series += p.get("class") == "series"
        for p in r.iter(NS + "polygon"):
            bands += p.get("class") == "band"
        for t in r.iter(NS + "text"):
            texts.append("".join(t.itertext()))
            legend += t.get("class") == "legend-item"
    print(f"{path}: {len(roots)} svg, {charts} charts, {series} lines, {bands} bands, {legend} legend items")
    for c in conds:
        k, v = c.split("=", 1)
        ok = {"charts": lambda: charts == int(v), "series_min": lambda: series >= int(v),
              "legend": lambda: legend >= int(v), "bands_min": lambda: bands >= int(v),
              "text": lambda: v in texts, "notext": lambda: v not in texts}[k]()
        if not ok:
            print(f"FAIL {c}" + (f" (texts: {sorted(set(texts))[:40]})" if k in ("text", "notext") else ""))
            sys.exit(1)


main()
