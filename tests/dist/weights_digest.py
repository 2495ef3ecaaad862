#!/usr/bin/env python3
"""Prints a SHA-256 of an artifact's tensors (names, dtypes, shapes and bytes), not of its metadata
(which records timings): two artifacts with equal digests hold bitwise equal weights."""
import hashlib
import json
import struct
import sys

for path in sys.argv[1:]:
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    h = hashlib.sha256()
    for name in sorted(k for k in header if k != "__metadata__"):
        t = header[name]
        a, b = t["data_offsets"]
        h.update(f"{name}|{t['dtype']}|{t['shape']}|".encode())
        h.update(data[a:b])
    print(h.hexdigest(), path)
