"""The roll map: an SVG of a roll's defects, along its length (x) and across its width (y),
coloured by class, with a legend. Plain SVG text, no script; not to scale (a roll is hundreds of
metres long and under 3 m wide)."""

from __future__ import annotations

import math
from collections import Counter
from xml.sax.saxutils import escape, quoteattr

from loomsight.api.roll_models import RollDefect, RollReport

PLOT_W_PX = 900.0
PLOT_H_PX = 240.0
LEFT_PX = 70.0
TOP_PX = 44.0
LEGEND_ROW_PX = 18.0
MIN_MARK_PX = 6.0
DEFAULT_WIDTH_MM = 1000.0
CLASS_COLOURS = {
    "hole": "#d62728",
    "stain": "#8c564b",
    "broken_end": "#1f77b4",
    "broken_pick": "#ff7f0e",
    "slub": "#2ca02c",
    "knot": "#9467bd",
    "contamination": "#e377c2",
    "crease": "#7f7f7f",
}
SPARE_COLOURS = ("#17becf", "#bcbd22", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173")


def class_colours(names: list[str]) -> dict[str, str]:
    """A colour per class: the default taxonomy's own, others from a spare palette in order."""
    spare = iter(SPARE_COLOURS * (len(names) // len(SPARE_COLOURS) + 1))
    return {name: CLASS_COLOURS.get(name) or next(spare) for name in sorted(names)}


def nice_step(span: float, ticks: int = 10) -> float:
    """A round step (1, 2 or 5 times a power of ten) giving about TICKS ticks over SPAN."""
    raw = max(span, 1e-9) / ticks
    power = 10.0 ** math.floor(math.log10(raw))
    return next(float(m * power) for m in (1, 2, 5, 10) if m * power >= raw)


def _extent(report: RollReport) -> tuple[float, float]:
    length_m = max(
        [report.length_m or 0.0, *(d.position_m + d.length_mm / 2000 for d in report.defects)]
    )
    width_mm = report.web_width_mm or max(
        [DEFAULT_WIDTH_MM, *(d.across_mm + d.width_mm / 2 for d in report.defects)]
    )
    return max(length_m, 1.0), width_mm


def _mark(defect: RollDefect, colour: str, length_m: float, width_mm: float) -> str:
    w = max(defect.length_mm / 1000 / length_m * PLOT_W_PX, MIN_MARK_PX)
    h = max(defect.width_mm / width_mm * PLOT_H_PX, MIN_MARK_PX)
    x = LEFT_PX + defect.position_m / length_m * PLOT_W_PX - w / 2
    y = TOP_PX + defect.across_mm / width_mm * PLOT_H_PX - h / 2
    title = (
        f"{defect.class_name} at {defect.position_m:.2f} m, {defect.across_mm:.0f} mm across, "
        f"{defect.length_mm:.0f} x {defect.width_mm:.0f} mm, {defect.points} points"
    )
    return (
        f'<rect class="defect" data-event-id="{defect.event_id}" '
        f'data-class={quoteattr(defect.class_name)} x="{x:.1f}" y="{y:.1f}" '
        f'width="{w:.1f}" height="{h:.1f}" fill="{colour}" fill-opacity="0.8" stroke="#000" '
        f'stroke-width="0.5"><title>{escape(title)}</title></rect>'
    )


def _axes(length_m: float, width_mm: float) -> list[str]:
    bottom = TOP_PX + PLOT_H_PX
    parts = [
        f'<rect x="{LEFT_PX}" y="{TOP_PX}" width="{PLOT_W_PX}" height="{PLOT_H_PX}" '
        'fill="#fafafa" stroke="#333"/>'
    ]
    step = nice_step(length_m)
    for k in range(int(length_m / step) + 1):
        x = LEFT_PX + k * step / length_m * PLOT_W_PX
        parts.append(
            f'<line x1="{x:.1f}" y1="{bottom}" x2="{x:.1f}" y2="{bottom + 5}" stroke="#333"/>'
        )
        parts.append(
            f'<text x="{x:.1f}" y="{bottom + 18}" text-anchor="middle">{k * step:g}</text>'
        )
    parts.append(
        f'<text x="{LEFT_PX + PLOT_W_PX / 2}" y="{bottom + 34}" text-anchor="middle">'
        "along the roll, m</text>"
    )
    for fraction in (0.0, 0.5, 1.0):
        y = TOP_PX + fraction * PLOT_H_PX
        parts.append(
            f'<text x="{LEFT_PX - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{fraction * width_mm:.0f}</text>"
        )
    parts.append(
        f'<text x="14" y="{TOP_PX + PLOT_H_PX / 2}" text-anchor="middle" '
        f'transform="rotate(-90 14 {TOP_PX + PLOT_H_PX / 2})">across, mm</text>'
    )
    return parts


def _legend(counts: Counter[str], colours: dict[str, str], top: float) -> list[str]:
    parts = []
    for row, (name, colour) in enumerate(colours.items()):
        y = top + row * LEGEND_ROW_PX
        parts.append(
            f'<rect class="legend" x="{LEFT_PX}" y="{y}" width="12" height="12" fill="{colour}"/>'
        )
        parts.append(f'<text x="{LEFT_PX + 18}" y="{y + 10}">{escape(name)}: {counts[name]}</text>')
    return parts


def roll_map_svg(report: RollReport) -> str:
    """The SVG document of REPORT's roll map: one <rect class="defect"> per defect."""
    length_m, width_mm = _extent(report)
    counts = Counter(d.class_name for d in report.defects)
    colours = class_colours(list(counts))
    legend_top = TOP_PX + PLOT_H_PX + 50
    height = legend_top + max(len(colours), 1) * LEGEND_ROW_PX + 10
    width = LEFT_PX + PLOT_W_PX + 20
    grade = report.grade or "ungraded"
    heading = (
        f"Roll {report.roll_id} on {report.machine_id}: {len(report.defects)} defects, "
        f"{report.points} points, {grade}"
    )
    body = [
        f'<text x="{LEFT_PX}" y="24" font-size="15" font-weight="bold">{escape(heading)}</text>',
        *_axes(length_m, width_mm),
        *(_mark(d, colours[d.class_name], length_m, width_mm) for d in report.defects),
        *_legend(counts, colours, legend_top),
    ]
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="sans-serif" font-size="11">'
        f"<title>{escape(heading)}</title>" + "".join(body) + "</svg>\n"
    )
