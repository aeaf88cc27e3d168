"""The results table (Markdown, so it pastes into docs) and the JSON files."""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from pathlib import Path
from typing import Any

RATIO_KEYS = ("deliveries_per_s", "msgs_per_s", "p50_ms", "p99_ms", "server_cpu_pct", "rss_mib",
              "rss_per_conn_kib", "rss_growth_mib")


def ratios(base: dict[str, Any], q: dict[str, Any]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for k in RATIO_KEYS:
        b, v = base.get(k), q.get(k)
        if isinstance(b, (int, float)) and isinstance(v, (int, float)) and b and not math.isnan(b):
            out[k] = round(v / b, 3)
    return out


def _num(v: Any, digits: int = 0) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if isinstance(v, (int, float)):
        return f"{v:,.{digits}f}"
    return str(v)


def _notes(key: str, r: dict[str, Any]) -> str:
    if "error" in r:
        return "ERROR: " + r["error"][:60]
    notes = []
    if "rss_per_conn_kib" in r:
        notes.append(f"{r['rss_per_conn_kib']:.1f} KiB/conn, {r['connects_per_s']:,.0f} conn/s, "
                     f"busy {r['settle_s']:.1f} s after the last connect")
    else:
        tgt, got = r.get("paced_msgs_per_s"), r.get("paced_achieved_msgs_per_s")
        if tgt:
            notes.append(f"paced {got:,.0f}/{tgt:,.0f} msg/s")
        if r.get("send_errors"):
            notes.append(f"errors {r['send_errors']}")
        if not r.get("drained", True):
            notes.append("not drained")
    others = max(r.get("others_cpu_pct", 0), r.get("paced_others_cpu_pct", 0))
    if others >= 15:
        notes.append(f"other processes {others:.0f}% CPU")
    if "slow_members" in r:
        backlog = r.get("slow_client_rx_kib", 0) + r.get("slow_server_tx_kib", 0)
        outcomes = Counter(r.get("slow_outcomes", []))
        notes.append(f"non-readers: {backlog:,.0f} KiB each in kernel buffers, then "
                     + ", ".join(f"{n} {o}" for o, n in sorted(outcomes.items()))
                     + f"; RSS +{r['rss_growth_mib']:.1f} MiB")
    if r.get("attempt", 1) > 1:
        notes.append(f"attempt {r['attempt']}")
    return "; ".join(notes)


def table(results: dict[str, Any]) -> str:
    head = ("| scen. | server | deliveries/s | msgs/s | p50 ms | p99 ms | server CPU % | RSS MiB "
            "| gen CPU % | q/b deliveries | notes |")
    lines = [head, "|" + "---|" * 11]
    for key, sc in sorted(results["scenarios"].items()):
        for kind in ("baseline", "qunguan"):
            r = sc.get(kind)
            if r is None:
                continue
            ratio = sc.get("ratio", {}).get("deliveries_per_s") if kind == "qunguan" else None
            lines.append("| " + " | ".join([
                key if kind == "baseline" else "",
                kind,
                _num(r.get("deliveries_per_s")),
                _num(r.get("msgs_per_s")),
                _num(r.get("p50_ms"), 2),
                _num(r.get("p99_ms"), 2),
                _num(r.get("server_cpu_pct")),
                _num(r.get("rss_mib"), 1),
                _num(r.get("gen_cpu_pct")),
                _num(ratio, 2) if ratio is not None else "",
                _notes(key, r),
            ]) + " |")
    return "\n".join(lines)


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets (qunguan against the baseline, same run), each with the measured value."""
    sc = results["scenarios"]
    out: list[dict[str, Any]] = []

    def add(name: str, value: Any, ok: bool | None) -> None:
        out.append({"target": name, "value": value, "met": ok})

    for key in ("a", "b", "c", "d"):
        r = sc.get(key, {}).get("ratio", {}).get("deliveries_per_s")
        if r is not None:
            add(f"({key}) deliveries/s >= 0.5 x baseline", r, r >= 0.5)
    g = sc.get("g", {}).get("ratio", {}).get("deliveries_per_s")
    if g is not None:
        add("(g) one sender, 10 in flight: deliveries/s >= 0.6 x baseline", g, g >= 0.6)
    p99 = sc.get("c", {}).get("qunguan", {}).get("p99_ms")
    if p99 is not None:
        add("(c) p99 < 50 ms at half the baseline's rate", p99, p99 < 50)
    per = sc.get("e", {}).get("qunguan", {}).get("rss_per_conn_kib")
    if per is not None:
        add("(e) <= 80 KiB RSS per idle connection", per, per <= 80)
    f = sc.get("f", {}).get("qunguan", {})
    c99 = sc.get("c", {}).get("qunguan", {}).get("p99_ms")
    if f.get("p99_ms") is not None and c99:
        r = round(f["p99_ms"] / c99, 3)
        add("(f) readers' p99 within 20 % of (c)", r, r <= 1.2)
    if f.get("rss_growth_mib") is not None:
        bound = 1.0 * f.get("slow_members", 0)  # the default 1 MiB outbox per slow member
        add(f"(f) RSS growth <= outbox limit x slow members ({bound:.0f} MiB)", f["rss_growth_mib"],
            f["rss_growth_mib"] <= bound)
    return out


def targets_text(rows: list[dict[str, Any]]) -> str:
    lines = ["| target | qunguan | met |", "|---|---|---|"]
    for t in rows:
        met = "yes" if t["met"] else ("no" if t["met"] is not None else "–")
        lines.append(f"| {t['target']} | {t['value']} | {met} |")
    return "\n".join(lines)


def write(results: dict[str, Any], out_dir: Path, prefix: str = "bench") -> Path:
    """``PREFIX-YYYYmmdd-HHMMSS.json`` and ``latest.json`` (``PREFIX-latest.json`` for other modes)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(results["meta"]["started_at"]))
    path = out_dir / f"{prefix}-{stamp}.json"
    text = json.dumps(results, indent=1, ensure_ascii=False, allow_nan=False, default=str)
    path.write_text(text + "\n", encoding="utf-8")
    latest = "latest.json" if prefix == "bench" else f"{prefix}-latest.json"
    (out_dir / latest).write_text(text + "\n", encoding="utf-8")
    return path
