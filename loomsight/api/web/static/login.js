// Log in through the API's token route; it sets the session cookie the pages use.
"use strict";

const form = document.getElementById("login-form");
form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const error = document.getElementById("login-error");
  error.textContent = "";
  const response = await fetch(form.action, {
    method: "POST",
    body: new URLSearchParams(new FormData(form)),
    credentials: "same-origin",
  });
  if (response.ok) {
    const next = form.dataset.next || "/review";
    window.location.assign(next.startsWith("/") && !next.startsWith("//") ? next : "/review");
  } else {
    error.textContent = response.status === 401 ? "Wrong username or password." : `Refused (${response.status}).`;
  }
});
