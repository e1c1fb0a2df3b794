// Machine detail: rates over time per class (plotly, served from the installed package),
// all vs confirmed, split by model version.
"use strict";

(() => {
  const form = document.getElementById("range");
  const machine = form.dataset.machine;
  const now = new Date(form.dataset.now);
  const RANGES = {
    "24h": { hours: 24, bucket: "hour" },
    "7d": { hours: 24 * 7, bucket: "shift" },
    "30d": { hours: 24 * 30, bucket: "day" },
  };
  const $ = (id) => document.getElementById(id);
  const layout = (title) => ({
    title: { text: title, font: { size: 14 } },
    margin: { l: 50, r: 10, t: 36, b: 40 },
    yaxis: { title: { text: "per 100 m" }, rangemode: "tozero" },
    legend: { orientation: "h", y: -0.18 },
    font: { family: "system-ui, sans-serif", size: 11 },
  });
  const config = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["toImage"] };

  const rates = (counting) => {
    const range = RANGES[new FormData(form).get("range")] ?? RANGES["24h"];
    const start = new Date(now.getTime() - range.hours * 3600e3);
    const query = new URLSearchParams({
      start: start.toISOString(),
      end: now.toISOString(),
      bucket: range.bucket,
      counting,
      by_model: "true",
    });
    return loom.api(`/api/v1/machines/${encodeURIComponent(machine)}/rates?${query}`);
  };

  const classChart = (data, counting) => {
    const names = new Set();
    for (const bucket of data.buckets) for (const name of Object.keys(bucket.classes)) names.add(name);
    const x = data.buckets.map((b) => b.start);
    const traces = [...names].sort().map((name) => ({
      type: "scatter",
      mode: "lines+markers",
      name,
      x,
      y: data.buckets.map((b) => b.classes[name]?.per_100_m ?? (b.inspected_m > 0 ? 0 : null)),
    }));
    Plotly.react($("chart-classes"), traces, layout(`Defects per 100 m by class (${counting.replace("_", " ")})`), config);
  };

  const totalsChart = (all, confirmed) => {
    const trace = (data, name, dash) => ({
      type: "scatter",
      mode: "lines+markers",
      name,
      line: { dash },
      x: data.buckets.map((b) => b.start),
      y: data.buckets.map((b) => b.per_100_m),
    });
    Plotly.react($("chart-confirmed"), [trace(all, "all detections", "solid"), trace(confirmed, "confirmed only", "dash")], layout("All vs confirmed"), config);
  };

  const modelsTable = (all, confirmed) => {
    const body = document.querySelector("#models tbody");
    const confirmedBy = new Map((confirmed.total.models ?? []).map((m) => [m.model_version, m]));
    const rows = (all.total.models ?? []).map((m) => {
      const row = document.createElement("tr");
      const cells = [
        m.model_version ?? "(heartbeats naming no model)",
        loom.fmt(m.inspected_m, 1),
        loom.fmt(m.per_100_m),
        loom.fmt(confirmedBy.get(m.model_version)?.per_100_m),
        String(m.events),
        String(m.false_alarms),
      ];
      cells.forEach((value, index) => {
        const cell = document.createElement(index ? "td" : "th");
        if (index) cell.className = "num";
        cell.textContent = value;
        row.append(cell);
      });
      return row;
    });
    body.replaceChildren(...rows);
    if (!rows.length) body.innerHTML = '<tr><td colspan="6">No inspected fabric in this range.</td></tr>';
  };

  const load = async () => {
    const counting = new FormData(form).get("counting");
    try {
      const [all, confirmed] = await Promise.all([rates("all"), rates("confirmed")]);
      const chosen = counting === "all" ? all : counting === "confirmed" ? confirmed : await rates(counting);
      $("rate-all").textContent = loom.fmt(all.total.per_100_m);
      $("rate-confirmed").textContent = loom.fmt(confirmed.total.per_100_m);
      $("inspected").textContent = `${loom.fmt(all.total.inspected_m, 1)} m`;
      $("review-state").textContent = `${all.total.unreviewed} / ${all.total.false_alarms}`;
      const gaps = all.coverage;
      $("gaps").textContent = gaps.gaps_total ? `${gaps.gaps_total} (${Math.round(gaps.uncovered_s / 60)} min)` : "none";
      classChart(chosen, counting);
      totalsChart(all, confirmed);
      modelsTable(all, confirmed);
      document.body.dataset.loaded = "true";
    } catch (error) {
      loom.flash(`Could not load the rates: ${error.message}`);
    }
  };

  form.addEventListener("change", load);
  if (window.Plotly) load();
  else window.addEventListener("load", load);
})();
