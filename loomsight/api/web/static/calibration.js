// Machine detail: ask for a calibration of the machine's model for a new article (the API, with
// the login cookie), then show the page again with the request listed.
"use strict";

(() => {
  const form = document.getElementById("calibrate-form");
  if (!form) return;
  const machine = encodeURIComponent(form.dataset.machine);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector("button[type=submit]");
    const article = form.elements.article.value.trim();
    const length_m = Number(form.elements.length_m.value);
    button.disabled = true;
    try {
      const made = await loom.api(
        `/api/v1/machines/${machine}/calibrations`,
        loom.json("POST", { article, length_m }),
      );
      loom.flash(`Calibration #${made.id} for ${made.article} requested.`, "info");
      setTimeout(() => window.location.reload(), 400);
    } catch (error) {
      loom.flash(`Calibration refused: ${error.message}`);
      button.disabled = false;
    }
  });
})();
