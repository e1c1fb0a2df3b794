// Machines: fill each row's rates from the API (the current shift and the last 24 h).
"use strict";

(() => {
  const MAX_PER_REQUEST = 20;
  const rows = [...document.querySelectorAll("tr[data-machine]")];
  const ids = rows.map((row) => row.dataset.machine);
  const cell = (row, field) => row.querySelector(`[data-field="${field}"]`);

  const compare = async (machines, counting) => {
    const query = new URLSearchParams({ bucket: "shift", counting });
    for (const id of machines) query.append("machine", id);
    return (await loom.api(`/api/v1/rates?${query}`)).machines;
  };

  const fill = async (chunk) => {
    const [all, confirmed] = await Promise.all([compare(chunk, "all"), compare(chunk, "confirmed")]);
    for (const [index, rates] of all.entries()) {
      const row = rows[ids.indexOf(rates.machine_id)];
      const current = rates.buckets.at(-1);
      cell(row, "shift_all").textContent = current ? loom.fmt(current.per_100_m) : "—";
      if (current?.shift) cell(row, "shift_all").title = `shift ${current.shift}`;
      cell(row, "day_all").textContent = loom.fmt(rates.total.per_100_m);
      cell(row, "day_confirmed").textContent = loom.fmt(confirmed[index].total.per_100_m);
      cell(row, "inspected").textContent = `${loom.fmt(rates.total.inspected_m, 1)} m`;
      const share = rates.coverage.inspected_share;
      const gaps = rates.coverage.gaps_total;
      cell(row, "coverage").textContent =
        (share === null ? "—" : `${(100 * share).toFixed(1)}%`) + (gaps ? ` · ${gaps} gap${gaps > 1 ? "s" : ""}` : "");
    }
  };

  const load = async () => {
    const chunks = [];
    for (let i = 0; i < ids.length; i += MAX_PER_REQUEST) chunks.push(ids.slice(i, i + MAX_PER_REQUEST));
    try {
      await Promise.all(chunks.map(fill));
      document.getElementById("machines").dataset.loaded = "true";
    } catch (error) {
      loom.flash(`Could not load the rates: ${error.message}`);
    }
  };

  load();
  setInterval(() => {
    if (!document.hidden) window.location.reload();
  }, 60000);
})();
