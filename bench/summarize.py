#!/usr/bin/env python3
"""Prints the ratio table of one bench/run.sh run (medians over runs), as Markdown."""
import json, statistics, sys

rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
idle = next(r for r in rows if r.get("label") == "idle")
after = next((r for r in rows if r.get("label") == "after"), None)
med = lambda rs, k: statistics.median(r[k] for r in rs)


def point(label, conc):
    rs = [r for r in rows if r.get("label") == label and r.get("conc") == conc]
    if not rs:
        return None
    return {"rps": med(rs, "rps"), "p50": med(rs, "p50_us") / 1000, "p99": med(rs, "p99_us") / 1000,
            "cores": med(rs, "server_cores"), "rss": max(r["server_rss_max_kib"] for r in rs) / 1024,
            "errs": sum(r["err_status"] for r in rs)}


print("| what | conc | ours req/s | peer req/s | ratio | ours p50 / p99 ms | peer p50 / p99 ms | ours req per CPU-s | peer req per CPU-s | ratio per CPU-s | errors (ours/peer) |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for name, what in [("cc", "client_credentials token (ES256 JWT)"), ("discovery", "discovery"), ("jwks", "JWKS"), ("sso", "SSO round trip, RS256 ID token, requests (2 per round)"),
                   ("sso-es", "SSO round trip, ES256 ID token, requests (2 per round)")]:
    for conc in (16, 64):
        o, p = point(f"ours-{name}", conc), point(f"peer-{name}", conc)
        if not o or not p:
            continue
        print(f"| {what} | {conc} | {o['rps']:,.0f} | {p['rps']:,.0f} | **{o['rps']/p['rps']:.1f}x** | "
              f"{o['p50']:.2f} / {o['p99']:.2f} | {p['p50']:.2f} / {p['p99']:.2f} | "
              f"{o['rps']/max(o['cores'],1e-9):,.0f} | {p['rps']/max(p['cores'],1e-9):,.0f} | "
              f"**{(o['rps']/max(o['cores'],1e-9))/(p['rps']/max(p['cores'],1e-9)):.1f}x** | {o['errs']}/{p['errs']} |")
print()
peak_o = max((r["server_rss_max_kib"] for r in rows if str(r.get("label", "")).startswith("ours-")), default=0) / 1024
peak_p = max((r["server_rss_max_kib"] for r in rows if str(r.get("label", "")).startswith("peer-")), default=0) / 1024
print(f"| memory | ours | peer |\n|---|---|---|")
print(f"| resident, idle after start | {idle['ours_rss_kib']/1024:.1f} MiB | {idle['peer_rss_kib']/1024:.1f} MiB |")
print(f"| resident, peak under load | {peak_o:.1f} MiB | {peak_p:.1f} MiB |")
if after:
    print(f"| resident, after the run | {after['ours_rss_kib']/1024:.1f} MiB | {after['peer_rss_kib']/1024:.1f} MiB |")
