// Roll report: the API's JSON report (4-point table, grade), its SVG roll map and printable page.
"use strict";

(() => {
  const form = document.getElementById("roll");
  const base = `/api/v1/machines/${encodeURIComponent(form.dataset.machine)}/rolls/${encodeURIComponent(form.dataset.roll)}`;
  const $ = (id) => document.getElementById(id);

  const row = (cells, numeric = []) => {
    const tr = document.createElement("tr");
    cells.forEach((value, index) => {
      const td = document.createElement("td");
      if (numeric.includes(index)) td.className = "num";
      td.textContent = value;
      tr.append(td);
    });
    return tr;
  };

  const load = async () => {
    const counting = new FormData(form).get("counting");
    const query = `?counting=${counting}`;
    $("map").src = `${base}/map.svg${query}`;
    $("printable").href = `${base}/report.html${query}`;
    try {
      const report = await loom.api(`${base}${query}`);
      $("grade").textContent = report.grade ?? "ungraded";
      $("grade").dataset.grade = report.grade ?? "";
      $("score").textContent = loom.fmt(report.points_per_100_sq_yd, 1);
      $("points").textContent = `${report.points} (${report.points_uncapped} before the cap)`;
      $("length").textContent = report.length_m === null ? "unknown" : `${loom.fmt(report.length_m, 1)} m`;
      $("review-state").textContent = `${report.unreviewed} / ${report.false_alarms}`;
      $("ungraded").hidden = !report.ungraded_reason;
      $("ungraded").textContent = report.ungraded_reason ?? "";
      document.querySelector("#yards tbody").replaceChildren(
        ...report.yards.map((y) => row([y.yard + 1, loom.fmt(y.start_m, 2), y.raw_points, y.points], [0, 1, 2, 3])),
      );
      document.querySelector("#grades tbody").replaceChildren(
        ...report.grades.map((g) => row([g.grade, loom.fmt(g.max_points_per_100_sq_yd, 1)], [1])),
      );
      document.querySelector("#defects tbody").replaceChildren(
        ...report.defects.map((d) =>
          row(
            [
              loom.fmt(d.position_m, 2),
              loom.fmt(d.across_mm, 0),
              `${loom.fmt(d.length_mm, 1)} × ${loom.fmt(d.width_mm, 1)}`,
              d.class_name === d.detected_class ? d.class_name : `${d.class_name} (detected ${d.detected_class})`,
              d.verdict ?? "unreviewed",
              d.points,
            ],
            [0, 1, 2, 5],
          ),
        ),
      );
      document.body.dataset.loaded = "true";
    } catch (error) {
      loom.flash(`Could not load the roll report: ${error.message}`);
    }
  };

  form.addEventListener("change", load);
  $("print").addEventListener("click", () => window.print());
  load();
})();
