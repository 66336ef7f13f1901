"""The usage report's charts, as SVG text to embed in the page (matplotlib, no script).

Why a module: the charts are the one place matplotlib is imported (slow to load; only the
report pays). Each chart is drawn on its own Figure (no pyplot state), written as SVG with
text kept as text, ids salted per chart (several SVGs share one page) and the XML prologue
cut, so the HTML page and the PDF (WeasyPrint) embed them inline. Labels in Bahasa Indonesia.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

from opdhost.usage.figures import FULL_PCT, WARN_PCT, SiteFigures

MAX_SITES = 25  # per-site charts show the sites with the highest use when there are more
COLOURS = {"ok": "#4e79a7", "warn": "#f28e2b", "full": "#e15759"}


@dataclass(frozen=True, slots=True)
class Chart:
    """One chart: an id for the page, its title, its SVG text."""

    key: str
    title: str
    svg: str


def _svg(fig: object, key: str) -> str:
    import matplotlib as mpl  # noqa: PLC0415 - only the report pays for matplotlib

    buffer = io.StringIO()
    with mpl.rc_context({"svg.fonttype": "none", "svg.hashsalt": f"opdhost-{key}"}):
        fig.savefig(buffer, format="svg", bbox_inches="tight")  # type: ignore[attr-defined]
    text = buffer.getvalue()
    start = text.find("<svg")
    return own_ids(_METADATA.sub("", text[start:] if start >= 0 else text), key)


_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.S)
_ID = re.compile(r'\bid="([^"]+)"')


def own_ids(svg: str, key: str) -> str:
    """Every id of the SVG (and every reference to one) prefixed with `key`: matplotlib
    names its elements `line2d_1`, `text_2`, ... in every figure, and ids must be unique in
    the page that embeds several."""
    ids = set(_ID.findall(svg))
    if not ids:
        return svg
    names = "|".join(re.escape(i) for i in sorted(ids, key=len, reverse=True))
    pattern = re.compile(rf'(\bid="|#)({names})(?=["\)])')
    return pattern.sub(lambda m: f"{m.group(1)}{key}-{m.group(2)}", svg)


def _figure(width: float, height: float) -> object:
    from matplotlib.figure import Figure  # noqa: PLC0415 - only the report pays for matplotlib

    fig = Figure(figsize=(width, height), dpi=96)
    fig.set_layout_engine("constrained")
    return fig


def _colour(pct: float) -> str:
    if pct >= FULL_PCT:
        return COLOURS["full"]
    return COLOURS["warn"] if pct >= WARN_PCT else COLOURS["ok"]


def against_allocation(
    key: str, title: str, rows: list[tuple[str, float, float]], unit: str
) -> Chart:
    """Horizontal bars: each site's use as a share of its allocation, 80 % and 100 % marked.

    `rows` are (site, used, allocated); the label says the amounts.
    """
    shown = sorted(rows, key=lambda r: (-(r[1] / r[2] if r[2] else 0.0), r[0]))[:MAX_SITES]
    shown.reverse()
    fig = _figure(7.5, 0.8 + 0.32 * max(len(shown), 1))
    ax = fig.add_subplot()  # type: ignore[attr-defined]
    pcts = [100.0 * used / alloc if alloc else 0.0 for _, used, alloc in shown]
    ax.barh([r[0] for r in shown], pcts, color=[_colour(p) for p in pcts], height=0.6)
    for y, ((_, used, alloc), pct) in enumerate(zip(shown, pcts, strict=True)):
        ax.text(
            min(pct, 118) + 1, y, f"{pct:.1f} % ({used:g} / {alloc:g} {unit})",
            va="center", fontsize=7,
        )  # fmt: skip
    ax.axvline(WARN_PCT, color=COLOURS["warn"], linestyle="--", linewidth=1)
    ax.axvline(FULL_PCT, color=COLOURS["full"], linestyle="--", linewidth=1)
    ax.set_xlim(0, max(150.0, *(min(p, 118) + 40 for p in pcts)) if pcts else 150.0)
    ax.set_xlabel("% dari alokasi")
    ax.tick_params(labelsize=8)
    if len(rows) > MAX_SITES:
        title = f"{title} ({MAX_SITES} situs tertinggi dari {len(rows)})"
    ax.set_title(title, fontsize=10)
    return Chart(key, title, _svg(fig, key))


def traffic_per_day(totals: dict[str, dict[str, int]]) -> Chart:
    """Bars of MiB sent per day of the month, the requests as a line on a second axis."""
    days = sorted(totals)
    fig = _figure(7.5, 2.8)
    ax = fig.add_subplot()  # type: ignore[attr-defined]
    labels = [d[-2:] for d in days]
    ax.bar(labels, [totals[d]["bytes"] / 1048576 for d in days], color=COLOURS["ok"])
    ax.set_ylabel("MiB terkirim")
    ax.set_xlabel("tanggal")
    ax.tick_params(labelsize=7)
    second = ax.twinx()
    second.plot(labels, [totals[d]["requests"] for d in days], color="#59a14f", marker=".")
    second.set_ylabel("permintaan")
    second.tick_params(labelsize=7)
    title = "Lalu lintas per hari"
    ax.set_title(title, fontsize=10)
    return Chart("traffic", title, _svg(fig, "traffic"))


def trend(months: list[tuple[str, dict[str, float]]]) -> Chart:
    """Lines over the past months: storage and database used, traffic sent (MiB)."""
    fig = _figure(7.5, 2.8)
    ax = fig.add_subplot()  # type: ignore[attr-defined]
    names = [m for m, _ in months]
    for key, label, colour in (
        ("disk_mb", "penyimpanan (MiB)", COLOURS["ok"]),
        ("db_used_mb", "basis data (MiB)", "#76b7b2"),
        ("sent_mb", "lalu lintas (MiB)", COLOURS["warn"]),
    ):
        ax.plot(names, [t[key] for _, t in months], marker="o", label=label, color=colour)
    ax.legend(fontsize=7)
    ax.tick_params(labelsize=8)
    title = "Tren bulanan"
    ax.set_title(title, fontsize=10)
    return Chart("trend", title, _svg(fig, "trend"))


def report_charts(
    sites: list[SiteFigures],
    totals: dict[str, dict[str, int]],
    history: list[tuple[str, dict[str, float]]],
) -> list[Chart]:
    """Every chart of the report: three against the allocation, traffic per day, and the
    trend when at least two months have records."""
    charts = [
        against_allocation(
            "storage", "Penyimpanan terhadap alokasi",
            [(s.site, s.disk_mb or 0.0, float(s.storage_mb)) for s in sites], "MiB",
        ),
        against_allocation(
            "database", "Basis data terhadap kuota",
            [(s.site, s.db_used_mb or 0.0, float(s.database_mb)) for s in sites if s.database_mb],
            "MiB",
        ),
        against_allocation(
            "bandwidth", "Puncak bandwidth terhadap alokasi",
            [(s.site, s.peak_mbit, float(s.bandwidth_mbit)) for s in sites], "Mbit/s",
        ),
        traffic_per_day(totals),
    ]  # fmt: skip
    if len(history) >= 2:
        charts.append(trend(history))
    return charts
