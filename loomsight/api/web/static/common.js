// Shared by the pages: fetch the API on this origin (the login cookie goes along), show errors.
"use strict";

const loom = (() => {
  const flash = (message, kind = "error") => {
    const box = document.getElementById("flash");
    if (!box) return;
    box.className = kind;
    box.textContent = message;
  };

  const detail = async (response) => {
    try {
      const body = await response.json();
      if (Array.isArray(body.detail)) return body.detail.map((d) => d.msg).join("; ");
      return String(body.detail ?? response.statusText);
    } catch {
      return response.statusText;
    }
  };

  // JSON from the API; a lost login goes to the login page, other refusals throw with the reason.
  const api = async (path, options = {}) => {
    const response = await fetch(path, { credentials: "same-origin", ...options });
    if (response.status === 401) {
      window.location.assign(`/login?next=${encodeURIComponent(location.pathname + location.search)}`);
      throw new Error("logged out");
    }
    if (!response.ok) throw new Error(`${response.status}: ${await detail(response)}`);
    if (response.status === 204) return null;
    return response.json();
  };

  const json = (method, body) => ({
    method,
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });

  const fmt = (value, digits = 2) =>
    value === null || value === undefined || Number.isNaN(value) ? "—" : Number(value).toFixed(digits);

  const logout = document.getElementById("logout");
  if (logout) {
    logout.addEventListener("click", async () => {
      await fetch("/api/v1/auth/logout", { method: "POST", credentials: "same-origin" });
      window.location.assign("/login");
    });
  }
  return { api, json, flash, fmt };
})();
