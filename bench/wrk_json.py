#!/usr/bin/env python3
"""Turns wrk --latency output (stdin) into one JSON line: usage wrk_json.py NAME."""
import json, re, sys

text = sys.stdin.read()
sys.stderr.write(text)


def unit(v, u):
    return float(v) * {"us": 0.001, "ms": 1, "s": 1000}[u]


lat = {p: unit(v, u) for p, v, u in re.findall(r"^\s+(50|75|90|99)(?:\.000)?%\s+([\d.]+)(us|ms|s)$", text, re.M)}
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
total = int(re.search(r"(\d+) requests in", text).group(1))
bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
print(json.dumps({"bench": sys.argv[1], "req_per_s": rps, "requests": total, "p50_ms": lat.get("50"),
                  "p99_ms": lat.get("99"), "non_2xx": int(bad.group(1)) if bad else 0}))
