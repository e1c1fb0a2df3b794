"""The printable roll report page: plain HTML (string.Template, every value escaped), the roll
map inline, no script."""

from __future__ import annotations

from html import escape
from string import Template

from loomsight.api.grading import M_PER_YARD, MM_PER_INCH
from loomsight.api.roll_models import RollReport

PAGE = Template("""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>$title</title>
<style>
  @page { size: A4 landscape; margin: 12mm; }
  body { font-family: sans-serif; font-size: 12px; margin: 16px; color: #111; }
  h1 { font-size: 18px; margin: 0 0 8px; }
  table { border-collapse: collapse; margin: 8px 0 16px; }
  th, td { border: 1px solid #999; padding: 3px 6px; text-align: left; }
  td.number { text-align: right; font-variant-numeric: tabular-nums; }
  .grade { font-size: 16px; font-weight: bold; }
  .map svg { max-width: 100%; height: auto; }
  tr { page-break-inside: avoid; }
</style>
</head>
<body>
<h1>$title</h1>
<table class="summary">
$summary
</table>
<div class="map">$svg</div>
<h2>Defects ($count)</h2>
<table class="defects">
<thead><tr><th>#</th><th>along, m</th><th>across, mm</th><th>length x width, mm</th>
<th>scored, in</th><th>class</th><th>detected as</th><th>verdict</th><th>points</th>
<th>yards</th></tr></thead>
<tbody>
$rows
</tbody>
</table>
</body>
</html>
""")


def _cell(value: object, number: bool = False) -> str:
    css = ' class="number"' if number else ""
    return f"<td{css}>{escape(str(value))}</td>"


def _summary(report: RollReport) -> str:
    length = (
        f"{report.length_m:.1f} m ({report.length_m / M_PER_YARD:.1f} yd, {report.length_source})"
        if report.length_m
        else "unknown"
    )
    width = (
        f"{report.web_width_mm:.0f} mm ({report.web_width_mm / MM_PER_INCH:.1f} in)"
        if report.web_width_mm
        else "unknown"
    )
    score = report.points_per_100_sq_yd
    limits = ", ".join(
        f"{step.grade} up to {step.max_points_per_100_sq_yd:g}" for step in report.grades
    )
    rows = [
        ("Machine", report.machine_id),
        ("Article", report.article or "-"),
        ("Started", report.started_at.isoformat() if report.started_at else "-"),
        ("Ended", report.ended_at.isoformat() if report.ended_at else "-"),
        ("Length", length),
        ("Web width", width),
        ("Counting", report.counting.value),
        ("Points (4-point system)", f"{report.points} (uncapped {report.points_uncapped})"),
        ("Points per 100 sq yd", f"{score:.1f}" if score is not None else "-"),
        ("Grade limits", f"{limits}; over that: rejected"),
        ("Unreviewed / false alarms", f"{report.unreviewed} / {report.false_alarms}"),
    ]
    grade = report.grade or f"ungraded: {report.ungraded_reason}"
    lines = [f"<tr><th>{escape(name)}</th>{_cell(value)}</tr>" for name, value in rows]
    lines.append(f'<tr><th>Grade</th><td class="grade">{escape(grade)}</td></tr>')
    return "\n".join(lines)


def render_roll_page(report: RollReport, svg: str) -> str:
    """The HTML page of REPORT with the roll map SVG inline."""
    rows = []
    for number, d in enumerate(report.defects, start=1):
        rows.append(
            "<tr>"
            + _cell(number, True)
            + _cell(f"{d.position_m:.2f}", True)
            + _cell(f"{d.across_mm:.0f}", True)
            + _cell(f"{d.length_mm:.0f} x {d.width_mm:.0f}", True)
            + _cell(f"{d.length_in:.1f}", True)
            + _cell(d.class_name)
            + _cell(d.detected_class)
            + _cell(d.verdict or "unreviewed")
            + _cell(d.points, True)
            + _cell(", ".join(str(y + 1) for y in d.yards), True)
            + "</tr>"
        )
    inline_svg = svg.split("?>", 1)[-1].strip()  # without the XML declaration
    return PAGE.substitute(
        title=escape(f"Roll {report.roll_id}: {report.grade or 'ungraded'}"),
        summary=_summary(report),
        svg=inline_svg,
        count=len(report.defects),
        rows="\n".join(rows),
    )
