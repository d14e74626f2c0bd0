// The demo page: plain fetch() with JSON, credentials "same-origin". The
// session lives only in the HttpOnly cookie, which this script cannot read.
"use strict";

const API = "/api/auth";

async function call(method, path, body) {
  const options = { method, credentials: "same-origin", headers: {} };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(API + path, options);
  const data = await response.json().catch(() => null);
  return { ok: response.ok, status: response.status, data };
}

function show(container, text, kind) {
  const message = container.querySelector(".message");
  message.textContent = text;
  message.className = "message " + kind;
}

function clearFieldErrors(form) {
  form.querySelectorAll(".field-error").forEach((node) => { node.textContent = ""; });
}

// FastAPI-style errors: "detail" is a string, or a list of {loc, msg, type}.
function showError(container, result) {
  const detail = result.data && result.data.detail;
  if (Array.isArray(detail)) {
    let general = [];
    detail.forEach((problem) => {
      const field = problem.loc[problem.loc.length - 1];
      const slot = container.querySelector(`.field-error[data-field="${field}"]`);
      if (slot && problem.loc.length > 1) {
        slot.textContent = problem.msg;
      } else {
        general.push(problem.msg);
      }
    });
    show(container, general.length ? general.join("; ") : "Please correct the fields above.", "error");
  } else {
    show(container, detail || `Request failed (${result.status})`, "error");
  }
}

function fill(details, user) {
  details.querySelectorAll("[data-key]").forEach((node) => {
    node.textContent = user[node.dataset.key];
  });
  details.hidden = false;
}

document.getElementById("register-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  clearFieldErrors(form);
  const fields = Object.fromEntries(new FormData(form));
  const result = await call("POST", "/register", fields);
  if (result.ok) {
    show(form, `Account created for ${result.data.username}. You can log in now.`, "ok");
  } else {
    showError(form, result);
  }
});

document.getElementById("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  clearFieldErrors(form);
  const { identifier, password } = Object.fromEntries(new FormData(form));
  const body = identifier.includes("@") ? { email: identifier, password } : { username: identifier, password };
  const result = await call("POST", "/login", body);
  if (result.ok) {
    show(form, `Logged in as ${result.data.username}.`, "ok");
  } else {
    showError(form, result);
  }
});

const panel = document.getElementById("me-panel");
const details = document.getElementById("me-details");

document.getElementById("me-button").addEventListener("click", async () => {
  const result = await call("GET", "/me");
  if (result.ok) {
    fill(details, result.data);
    show(panel, `You are ${result.data.username}.`, "ok");
  } else {
    details.hidden = true;
    showError(panel, result);
  }
});

document.getElementById("logout-button").addEventListener("click", async () => {
  const result = await call("POST", "/logout");
  details.hidden = true;
  if (result.ok) {
    show(panel, result.data.message, "ok");
  } else {
    showError(panel, result);
  }
});
