// Models, for admins: upload (ONNX + card) and activate. The API refuses these to reviewers.
"use strict";

(() => {
  const done = (message) => {
    loom.flash(message, "info");
    setTimeout(() => window.location.reload(), 600);
  };

  const upload = document.getElementById("upload-form");
  upload?.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const model = await loom.api("/api/v1/models", { method: "POST", body: new FormData(upload) });
      done(`Uploaded ${model.version}.`);
    } catch (error) {
      loom.flash(`Upload refused: ${error.message}`);
    }
  });

  for (const form of document.querySelectorAll("form.promote")) {
    const version = encodeURIComponent(form.dataset.version);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const machines = [...form.elements.machines.selectedOptions].map((o) => o.value);
      if (!machines.length) return loom.flash("Choose one or more machines first.");
      try {
        await loom.api(`/api/v1/models/${version}/activate`, loom.json("POST", { machines }));
        done(`${form.dataset.version} is active on ${machines.join(", ")}.`);
      } catch (error) {
        loom.flash(`Refused: ${error.message}`);
      }
    });
    form.querySelector("[data-all]")?.addEventListener("click", async (event) => {
      const action = event.currentTarget.dataset.all;
      try {
        await loom.api(`/api/v1/models/${version}/${action}`, loom.json("POST", { machines: null }));
        done(`${form.dataset.version}: ${action === "activate" ? "now the fleet model" : "no longer the fleet model"}.`);
      } catch (error) {
        loom.flash(`Refused: ${error.message}`);
      }
    });
  }
})();
