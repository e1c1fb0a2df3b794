// Review, keyboard first: one detection at a time; the next ones preloaded.
// Enter/c confirm, x false alarm, 1..9 relabel, drag a box then Enter, u undo, s skip, Esc.
"use strict";

(() => {
  const PAGE = 50;
  const PRELOAD = 4;
  const { classes } = JSON.parse(document.getElementById("page-data").textContent);
  const $ = (id) => document.getElementById(id);
  const filters = $("filters");
  const overlay = $("overlay");
  const SVG = "http://www.w3.org/2000/svg";

  let queue = []; // detections still to show; queue[0] is on screen
  let cursor = null; // next_after of the last page fetched
  let exhausted = false; // the last page had no successor
  let fetching = null;
  let skipped = new Set();
  const history = []; // [{item, saved: Promise}] verdicts given, for undo
  let unreviewed = 0; // from the summary, minus verdicts given since
  let reviewed = 0;
  let drawn = null; // [x1, y1, x2, y2] corrected box in frame pixels
  let generation = 0; // bumps when the filters change: late answers are dropped

  const params = () => {
    const form = new FormData(filters);
    const query = new URLSearchParams();
    for (const name of ["machine", "class_name"]) if (form.get(name)) query.set(name, form.get(name));
    const band = form.get("band");
    if (band) {
      const [low, high] = band.split("-");
      query.set("min_confidence", low);
      query.set("max_confidence", high);
    }
    for (const name of ["since", "until"]) {
      const value = form.get(name);
      if (value) query.set(name, new Date(value).toISOString());
    }
    return query;
  };

  const saveFiltersInUrl = () => {
    const query = new URLSearchParams(new FormData(filters));
    for (const [key, value] of [...query.entries()]) if (!value) query.delete(key);
    window.history.replaceState(null, "", `${location.pathname}${query.size ? "?" + query : ""}`);
  };

  const loadFiltersFromUrl = () => {
    const query = new URLSearchParams(location.search);
    for (const element of filters.elements) {
      if (element.name && query.has(element.name)) element.value = query.get(element.name);
    }
  };

  const preload = () => {
    for (const item of queue.slice(1, 1 + PRELOAD)) {
      for (const url of [item.crop_url, item.frame_url]) if (url) new Image().src = url;
    }
  };

  const fetchMore = () => {
    if (fetching || exhausted) return fetching;
    const mine = generation;
    const query = params();
    query.set("limit", PAGE);
    query.set("order", new FormData(filters).get("order") || "oldest");
    if (cursor) query.set("after", cursor);
    fetching = loom
      .api(`/api/v1/review/queue?${query}`)
      .then((page) => {
        if (mine !== generation) return;
        const known = new Set(queue.map((item) => item.event_id));
        for (const item of page.items) {
          if (!skipped.has(item.event_id) && !known.has(item.event_id)) queue.push(item);
        }
        cursor = page.next_after;
        exhausted = !page.next_after;
      })
      .catch((error) => loom.flash(`Could not load the queue: ${error.message}`))
      .finally(() => {
        if (mine === generation) fetching = null;
      });
    return fetching;
  };

  const countLeft = async () => {
    const mine = generation;
    const summary = await loom.api(`/api/v1/review/summary?${params()}`);
    if (mine === generation) {
      unreviewed = summary.overall.unreviewed;
      showProgress();
    }
  };

  const showProgress = () => {
    $("progress").textContent = `${Math.max(unreviewed, 0)} left · ${reviewed} reviewed now`;
    $("progress").dataset.left = String(Math.max(unreviewed, 0));
  };

  const setSource = (image, url) => (url ? (image.src = url) : image.removeAttribute("src"));
  const text = (id, value) => ($(id).textContent = value);

  const drawBoxes = (item) => {
    const [width, height] = item.frame_wh_px;
    overlay.setAttribute("viewBox", `0 0 ${width} ${height}`);
    overlay.replaceChildren();
    const rect = (box, cls) => {
      const element = document.createElementNS(SVG, "rect");
      element.setAttribute("class", cls);
      element.setAttribute("x", box[0]);
      element.setAttribute("y", box[1]);
      element.setAttribute("width", Math.max(box[2] - box[0], 1));
      element.setAttribute("height", Math.max(box[3] - box[1], 1));
      overlay.append(element);
      return element;
    };
    rect(item.box_xyxy_px, "box");
    if (drawn) rect(drawn, "drawn").id = "drawn-box";
  };

  const show = () => {
    const item = queue[0];
    const empty = !item;
    $("reviewer").hidden = empty;
    $("empty").hidden = !empty;
    if (empty) {
      showProgress();
      return;
    }
    drawn = null;
    $("reviewer").dataset.eventId = item.event_id;
    setSource($("frame"), item.frame_url);
    $("frame").style.aspectRatio = `${item.frame_wh_px[0]} / ${item.frame_wh_px[1]}`;
    setSource($("crop"), item.crop_url);
    text("f-class", item.class_name);
    text("f-confidence", loom.fmt(item.confidence, 2));
    text("f-machine", `${item.machine_id} · ${item.camera_id}`);
    text("f-position", `${item.roll_id ?? "no roll"} · ${loom.fmt(item.position_m, 2)} m along, ${loom.fmt(item.across_mm, 0)} mm across`);
    text("f-size", `${loom.fmt(item.length_mm, 1)} × ${loom.fmt(item.width_mm, 1)} mm`);
    text("f-time", new Date(item.detected_at).toLocaleString());
    text("f-model", item.model_version);
    drawBoxes(item);
    preload();
    showProgress();
    if (queue.length <= PRELOAD + 1) fetchMore()?.then(() => queue.length && preload());
  };

  const advance = () => {
    queue.shift();
    show();
    if (!queue.length && !exhausted) fetchMore()?.then(show);
  };

  const verdictBody = (action, className) => {
    const item = queue[0];
    if (action === "false_alarm") return { verdict: "false_alarm" };
    const box = drawn ? drawn.map((v) => Math.round(v)) : null;
    const newClass = className && className !== item.class_name ? className : null;
    if (!box && !newClass) return { verdict: "confirmed" };
    return { verdict: "relabelled", class_name: newClass, box_xyxy_px: box };
  };

  const decide = (action, className = null) => {
    const item = queue[0];
    if (!item) return;
    const body = verdictBody(action, className);
    const saved = loom
      .api(`/api/v1/review/events/${item.event_id}/verdict`, loom.json("PUT", body))
      .catch((error) => {
        loom.flash(`The verdict on ${item.class_name} was not saved (${error.message}); it is back in the queue.`);
        queue.unshift(item);
        unreviewed += 1;
        reviewed -= 1;
        show();
        throw error;
      });
    history.push({ item, saved });
    unreviewed -= 1;
    reviewed += 1;
    const what = body.verdict === "relabelled" ? `relabelled${body.class_name ? " to " + body.class_name : ""}${body.box_xyxy_px ? " with a new box" : ""}` : body.verdict.replace("_", " ");
    text("last-action", `${item.class_name} at ${loom.fmt(item.position_m, 2)} m: ${what} (u to undo)`);
    advance();
  };

  const undo = async () => {
    const last = history.pop();
    if (!last) return;
    try {
      await last.saved;
    } catch {
      return; // never saved: it is back in the queue already
    }
    try {
      await loom.api(`/api/v1/review/events/${last.item.event_id}/verdict`, { method: "DELETE" });
    } catch (error) {
      loom.flash(`Could not undo: ${error.message}`);
      return;
    }
    queue.unshift(last.item);
    unreviewed += 1;
    reviewed -= 1;
    text("last-action", `undone: ${last.item.class_name} at ${loom.fmt(last.item.position_m, 2)} m is back`);
    show();
  };

  const skip = () => {
    const item = queue[0];
    if (!item) return;
    skipped.add(item.event_id);
    text("last-action", `skipped ${item.class_name} at ${loom.fmt(item.position_m, 2)} m`);
    advance();
  };

  const restart = async () => {
    generation += 1;
    queue = [];
    cursor = null;
    exhausted = false;
    fetching = null;
    drawn = null;
    saveFiltersInUrl();
    $("progress").textContent = "loading…";
    await Promise.all([fetchMore(), countLeft().catch((e) => loom.flash(e.message))]);
    show();
  };

  // Drag on the frame: a corrected box in frame pixels.
  const toFrame = (event) => {
    const item = queue[0];
    const bounds = overlay.getBoundingClientRect();
    const [width, height] = item.frame_wh_px;
    const x = ((event.clientX - bounds.left) / bounds.width) * width;
    const y = ((event.clientY - bounds.top) / bounds.height) * height;
    return [Math.min(Math.max(x, 0), width), Math.min(Math.max(y, 0), height)];
  };
  let dragStart = null;
  overlay.addEventListener("pointerdown", (event) => {
    if (!queue[0]) return;
    overlay.setPointerCapture(event.pointerId);
    dragStart = toFrame(event);
  });
  overlay.addEventListener("pointermove", (event) => {
    if (!dragStart) return;
    const [x, y] = toFrame(event);
    drawn = [Math.min(dragStart[0], x), Math.min(dragStart[1], y), Math.max(dragStart[0], x), Math.max(dragStart[1], y)];
    drawBoxes(queue[0]);
  });
  overlay.addEventListener("pointerup", () => {
    dragStart = null;
    if (drawn && (drawn[2] - drawn[0] < 2 || drawn[3] - drawn[1] < 2)) drawn = null;
    if (queue[0]) drawBoxes(queue[0]);
    if (drawn) text("last-action", "new box drawn: Enter saves it (or a number key with a class), Esc discards");
  });

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    if (target instanceof HTMLInputElement || target instanceof HTMLSelectElement) {
      if (event.key === "Escape") target.blur();
      return;
    }
    const key = event.key;
    let handled = true;
    if (key === "Enter" || key === "c") decide("confirm");
    else if (key === "x") decide("false_alarm");
    else if (key === "s") skip();
    else if (key === "u") undo();
    else if (key === "Escape") {
      drawn = null;
      if (queue[0]) drawBoxes(queue[0]);
    } else if (/^[1-9]$/.test(key) && Number(key) <= classes.length) decide("relabel", classes[Number(key) - 1]);
    else handled = false;
    if (handled) event.preventDefault();
  });

  document.querySelector(".keys").addEventListener("click", (event) => {
    const button = event.target.closest("button");
    if (!button) return;
    button.blur();
    if (button.dataset.relabel) decide("relabel", button.dataset.relabel);
    else if (button.dataset.action === "skip") skip();
    else if (button.dataset.action === "undo") undo();
    else if (button.dataset.action) decide(button.dataset.action);
  });
  filters.addEventListener("change", restart);
  filters.addEventListener("submit", (event) => event.preventDefault());
  $("restart").addEventListener("click", () => {
    skipped = new Set();
    restart();
  });

  loadFiltersFromUrl();
  restart();
})();
