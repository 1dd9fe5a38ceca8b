#!/usr/bin/env python3
"""Turns bench-vs-restic.sh's results.json and tool outputs into a Markdown table with the targets."""
import json, sys, os

work = sys.argv[1]
r = json.load(open(os.path.join(work, "results.json")))
size = r["imageBytes"]
mb = 1e6


def out(name):
    try:
        return json.load(open(os.path.join(work, name + ".out")))
    except Exception:
        return None


def rate(name):
    return size / r[name]["wall"] / mb if name in r else None


def fmt(x, unit=""):
    return "-" if x is None else (f"{x:,.0f}{unit}")


rows = []
t_init, t_inc, t_res = rate("tresor-1m-initial"), rate("tresor-1m-incremental"), rate("tresor-1m-restore")
p_init, p_inc, p_res = rate("restic-initial"), rate("restic-incremental"), rate("restic-restore")
restore = out("tresor-1m-restore")
print(f"Image: {size / 2**30:.2f} GiB. Throughput = image bytes / wall seconds (MB/s).\n")
b_init, b_inc, b_res = rate("borg-initial"), rate("borg-incremental"), rate("borg-restore")
bi, ba = r.get("borg-stored-initial"), r.get("borg-stored-after")
print("| measure | Tresor (1 MiB) | restic | ratio to restic | target | borg 1.2 (zstd,3) |")
print("| --- | --- | --- | --- | --- | --- |")


def ratio(a, b):
    return "-" if a is None or b is None or b == 0 else f"{a / b:.2f}×"


print(f"| initial backup MB/s | {fmt(t_init)} | {fmt(p_init)} | {ratio(t_init, p_init)} | ≥ 3× | {fmt(b_init)} |")
print(f"| incremental (1 %) MB/s | {fmt(t_inc)} | {fmt(p_inc)} | {ratio(t_inc, p_inc)} | ≥ 5× | {fmt(b_inc)} |")
print(f"| full restore MB/s (output left in the page cache) | {fmt(t_res)} | {fmt(p_res)} | {ratio(t_res, p_res)} | ≥ 3× | {fmt(b_res)} |")
t_res_synced = rate("tresor-1m-restore-synced")
print(f"| full restore MB/s, Tresor ending with fdatasync (its default) | {fmt(t_res_synced)} | - | {ratio(t_res_synced, p_res)} | | - |")
si, sa = r.get("tresor-1m-stored-initial"), r.get("tresor-1m-stored-after")
ri, ra = r.get("restic-stored-initial"), r.get("restic-stored-after")
print(f"| stored after initial (MB) | {fmt(si and si / mb)} | {fmt(ri and ri / mb)} | {ratio(si, ri)} | ≤ 1× | {fmt(bi and bi / mb)} |")
print(f"| added by incremental (MB) | {fmt(sa and (sa - si) / mb)} | {fmt(ra and (ra - ri) / mb)} | {ratio(sa and sa - si, ra and ra - ri)} | ≤ 0.6× | {fmt(ba and (ba - bi) / mb)} |")
print()
print("Tresor's own timings (inside the program, without process start and key unlock):")
for name in ["tresor-1m-initial", "tresor-1m-incremental", "tresor-64g-sparse-initial"]:
    d = out(name)
    if d:
        stages = ", ".join(f"{k} {v:.2f}" for k, v in d["stageCPUSeconds"].items())
        print(f"- {name}: {d['seconds']:.2f} s, {d['bytesRead'] / d['seconds'] / mb:,.0f} MB/s; worker CPU s per stage: {stages}")
if restore:
    print(f"- tresor-1m-restore (--no-sync): {restore['seconds']:.2f} s, {size / restore['seconds'] / mb:,.0f} MB/s")
synced = out("tresor-1m-restore-synced")
if synced:
    print(f"- tresor-1m-restore-synced: {synced['seconds']:.2f} s to the last write, {synced['secondsWithSync']:.2f} s with fdatasync")
print()
print("| run | wall s | CPU s | peak RSS MiB |")
print("| --- | --- | --- | --- |")
for name, v in r.items():
    if isinstance(v, dict):
        print(f"| {name} | {v['wall']:.2f} | {v['cpu']:.2f} | {v['rssKiB'] / 1024:.0f} |")
print()
print("| Tresor chunk size | stored after initial MB | added by incremental MB |")
print("| --- | --- | --- |")
for label in ["256k", "1m", "4m"]:
    a, b = r.get(f"tresor-{label}-stored-initial"), r.get(f"tresor-{label}-stored-after")
    if a:
        print(f"| {label} | {a / mb:,.0f} | {(b - a) / mb:,.0f} |")
mut = open(os.path.join(work, "mutate.txt")).read().strip()
print(f"\nMutation: {mut}")
