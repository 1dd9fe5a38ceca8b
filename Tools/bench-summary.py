#!/usr/bin/env python3
"""Turns bench-vs-restic.sh's results.json and tool outputs into Markdown tables with the targets.

Names ending in "#R" are round R of a measure; a measure's figure is the median over its rounds, and the
ratio to restic is given per round too (both tools ran seconds apart within a round)."""
import json, os, statistics, sys

work = sys.argv[1]
r = json.load(open(os.path.join(work, "results.json")))
size = r["imageBytes"]
mb = 1e6

# measure name -> {round: value}; measures without rounds are round 0.
rounds = {}
for key, value in r.items():
    name, _, number = key.partition("#")
    rounds.setdefault(name, {})[int(number or 0)] = value


def median(name, field=None):
    values = rounds.get(name)
    if not values:
        return None
    return statistics.median(v[field] if field else v for v in values.values())


def rate(name):
    wall = median(name, "wall")
    return size / wall / mb if wall else None


def round_rates(name):
    return {n: size / v["wall"] / mb for n, v in rounds.get(name, {}).items()}


def out(name):
    """The JSON a Tresor command printed: the first round's, or the measure's own."""
    for candidate in (name + "#1", name):
        try:
            return json.load(open(os.path.join(work, candidate + ".out")))
        except Exception:
            pass
    return None


def fmt(x, unit=""):
    return "-" if x is None else (f"{x:,.0f}{unit}")


def ratio(a, b):
    return "-" if a is None or b is None or b == 0 else f"{a / b:.2f}×"


def by_round(ours, theirs):
    """Tresor's rate over restic's, round by round."""
    a, b = round_rates(ours), round_rates(theirs)
    return ", ".join(f"{a[n] / b[n]:.2f}" for n in sorted(a) if n in b) or "-"


# restic's restore followed by the fdatasync of its output: on disk, as Tresor's default restore ends.
flush = rounds.get("restic-restore-flush", {})
if flush:
    rounds["restic-restore-on-disk"] = {n: {"wall": v["wall"] + flush[n]["wall"], "cpu": v["cpu"] + flush[n]["cpu"], "rssKiB": v["rssKiB"]}
                                        for n, v in rounds.get("restic-restore", {}).items() if n in flush}

count = len(rounds.get("tresor-1m-initial", {}))
print(f"Image: {size / 2**30:.2f} GiB. Throughput = image bytes / wall seconds (MB/s), the median of {count} "
      f"round(s); in each round both tools ran each step back to back (Tresor first in odd rounds).\n")
print("| measure | Tresor (1 MiB) | restic | ratio of medians | ratio by round | target | borg 1.2 (zstd,3) |")
print("| --- | --- | --- | --- | --- | --- | --- |")
for label, step, target in [("initial backup MB/s", "initial", "≥ 3×"), ("incremental (1 %) MB/s", "incremental", "≥ 5×"),
                            ("full restore MB/s, second of two (restic's output left in the page cache, Tresor's --no-sync)", "restore", "≥ 3×")]:
    t, p, b = rate(f"tresor-1m-{step}"), rate(f"restic-{step}"), rate(f"borg-{step}")
    print(f"| {label} | {fmt(t)} | {fmt(p)} | {ratio(t, p)} | {by_round(f'tresor-1m-{step}', f'restic-{step}')} | {target} | {fmt(b)} |")
t_first, p_first = rate("tresor-1m-restore-first"), rate("restic-restore-first")
print(f"| full restore MB/s, first of the two (into memory the host had taken back) | {fmt(t_first)} | {fmt(p_first)} | "
      f"{ratio(t_first, p_first)} | {by_round('tresor-1m-restore-first', 'restic-restore-first')} | | - |")
t_synced, p_disk = rate("tresor-1m-restore-synced"), rate("restic-restore-on-disk")
print(f"| full restore MB/s, output on disk (Tresor's default, ending with fdatasync; restic's, then fdatasync of its output) | "
      f"{fmt(t_synced)} | {fmt(p_disk)} | {ratio(t_synced, p_disk)} | {by_round('tresor-1m-restore-synced', 'restic-restore-on-disk')} | | - |")
si, sa = median("tresor-1m-stored-initial"), median("tresor-1m-stored-after")
ri, ra = median("restic-stored-initial"), median("restic-stored-after")
bi, ba = r.get("borg-stored-initial"), r.get("borg-stored-after")
print(f"| stored after initial (MB) | {fmt(si and si / mb)} | {fmt(ri and ri / mb)} | {ratio(si, ri)} | | ≤ 1× | {fmt(bi and bi / mb)} |")
print(f"| added by incremental (MB) | {fmt(sa and (sa - si) / mb)} | {fmt(ra and (ra - ri) / mb)} | "
      f"{ratio(sa and sa - si, ra and ra - ri)} | | ≤ 0.6× | {fmt(ba and (ba - bi) / mb)} |")
print()
print("Tresor's own timings, first round (inside the program, without process start and key unlock):")
for name in ["tresor-1m-initial", "tresor-1m-incremental", "tresor-64g-sparse-initial"]:
    d = out(name)
    if d:
        stages = ", ".join(f"{k} {v:.2f}" for k, v in d["stageCPUSeconds"].items())
        print(f"- {name}: {d['seconds']:.2f} s, {d['bytesRead'] / d['seconds'] / mb:,.0f} MB/s; worker CPU s per stage: {stages}")
restore = out("tresor-1m-restore")
if restore:
    print(f"- tresor-1m-restore (--no-sync): {restore['seconds']:.2f} s, {size / restore['seconds'] / mb:,.0f} MB/s")
synced = out("tresor-1m-restore-synced")
if synced:
    print(f"- tresor-1m-restore-synced: {synced['seconds']:.2f} s to the last write, {synced['secondsWithSync']:.2f} s with fdatasync")
print()
print("| run | round | wall s | CPU s | peak RSS MiB |")
print("| --- | --- | --- | --- | --- |")
for name, values in rounds.items():
    for number, v in sorted(values.items()):
        if isinstance(v, dict):
            print(f"| {name} | {number or '-'} | {v['wall']:.2f} | {v['cpu']:.2f} | {v['rssKiB'] / 1024:.0f} |")
print()
print("| Tresor chunk size | stored after initial MB | added by incremental MB |")
print("| --- | --- | --- |")
for label in ["256k", "1m", "4m"]:
    a, b = median(f"tresor-{label}-stored-initial"), median(f"tresor-{label}-stored-after")
    if a:
        print(f"| {label} | {a / mb:,.0f} | {(b - a) / mb:,.0f} |")
mut = open(os.path.join(work, "mutate.txt")).read().strip()
print(f"\nMutation: {mut}")
