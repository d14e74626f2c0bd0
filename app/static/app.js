// The demo page: plain fetch() with JSON, credentials "same-origin". The
// session lives only in the HttpOnly cookie, which this script cannot read.
// Everything the server sends is put in the page with textContent, never as HTML.
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

const $ = (selector) => document.querySelector(selector);

function element(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  return node;
}

function show(container, text, kind) {
  const message = container.querySelector(".message");
  message.textContent = text;
  message.className = "message " + kind;
}

function clearMessages(container) {
  container.querySelectorAll(".field-error").forEach((node) => { node.textContent = ""; });
  container.querySelectorAll(".message").forEach((node) => { node.textContent = ""; });
}

// FastAPI-style errors: "detail" is a string, or a list of {loc, msg, type}.
function showError(container, result) {
  const detail = result.data && result.data.detail;
  if (Array.isArray(detail)) {
    const general = [];
    detail.forEach((problem) => {
      const field = String(problem.loc[problem.loc.length - 1]);
      const slot = container.querySelector(`.field-error[data-field="${CSS.escape(field)}"]`);
      if (slot && problem.loc.length > 1) {
        // A field may have more than one problem: show them all.
        slot.textContent = slot.textContent ? `${slot.textContent}; ${problem.msg}` : problem.msg;
      } else {
        general.push(problem.msg);
      }
    });
    show(container, general.length ? general.join("; ") : "Please correct the fields above.", "error");
  } else {
    show(container, detail || `Request failed (${result.status})`, "error");
  }
}

function plural(count, one, many) {
  return `${count} ${count === 1 ? one : many}`;
}

function formatTime(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso) : date.toLocaleString();
}

function timeCell(iso) {
  const cell = element("td");
  const time = element("time", formatTime(iso));
  time.dateTime = iso;
  cell.append(time);
  return cell;
}

// Messages about the page as a whole (logged in, logged out, account deleted).
const notice = $("header");

// --- signed in or signed out ------------------------------------------------------

function setState(state) {
  document.body.dataset.state = state;
  document.querySelectorAll(".signed-in").forEach((node) => { node.hidden = state !== "signed-in"; });
  document.querySelectorAll(".signed-out").forEach((node) => { node.hidden = state !== "signed-out"; });
  if (state !== "signed-in") {
    // Nothing of the account stays in the page once signed out.
    document.querySelectorAll(".signed-in").forEach(clearMessages);
    document.querySelectorAll("#me-details dd").forEach((node) => { node.textContent = ""; });
    $("#sessions-list").replaceChildren();
    $("#events-list").replaceChildren();
    document.querySelectorAll(".signed-in form").forEach((form) => form.reset());
  }
}

const signedIn = () => document.body.dataset.state === "signed-in";

// After a change: the account's sessions and activity as they are now.
function reloadLists() {
  if (signedIn()) {
    loadSessions();
    loadEvents();
  }
}

function signedOut(text, kind) {
  setState("signed-out");
  show(notice, text, kind);
}

// A signed-in action answered 401: the session has ended (elsewhere, or it expired).
function failed(container, result) {
  if (result.status === 401) {
    signedOut(`${result.data && result.data.detail}: you are logged out.`, "error");
  } else {
    showError(container, result);
  }
}

async function refresh() {
  const result = await call("GET", "/me");
  if (result.ok) {
    showAccount(result.data);
  } else if (result.status === 401) {
    setState("signed-out");
  } else {
    setState("signed-out");
    showError(notice, result);
  }
  return result;
}

function showAccount(user) {
  document.querySelectorAll("#me-details [data-key]").forEach((node) => {
    const value = user[node.dataset.key];
    node.textContent = node.dataset.key === "created_at" ? formatTime(value) : value;
  });
  const status = $("#email-status");
  status.textContent = user.email_verified ? "verified" : "not verified";
  status.className = user.email_verified ? "" : "unverified";
  $("#resend-button").hidden = user.email_verified;
  setState("signed-in");
  reloadLists();
}

// --- signed out: register, log in, forgot password ---------------------------------

document.getElementById("register-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  clearMessages(form);
  const fields = Object.fromEntries(new FormData(form));
  const result = await call("POST", "/register", fields);
  if (result.ok) {
    form.reset();
    show(form, `Account created for ${result.data.username}. You can log in now; `
      + "a link to verify your email is on its way.", "ok");
  } else {
    showError(form, result);
  }
});

document.getElementById("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  clearMessages(form);
  const { identifier, password } = Object.fromEntries(new FormData(form));
  const body = identifier.includes("@") ? { email: identifier, password } : { username: identifier, password };
  const result = await call("POST", "/login", body);
  if (result.ok) {
    form.reset();
    show(notice, `Logged in as ${result.data.username}.`, "ok");
    showAccount(result.data);
  } else if (result.status === 401 && result.data && result.data.second_factor) {
    form.reset();
    SecondStep.begin(result.data.second_factor); // app/static/second-factor.js
  } else {
    showError(form, result);
  }
});

document.getElementById("forgot-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  clearMessages(form);
  const result = await call("POST", "/password/forgot", Object.fromEntries(new FormData(form)));
  if (result.ok) {
    show(form, result.data.message, "ok");
  } else {
    showError(form, result);
  }
});

// --- mailed links ------------------------------------------------------------------

// The token is a key to the account: read it once, then take it out of the
// address bar, so that it is in no history entry, bookmark or shared link.
function takeToken() {
  const token = new URLSearchParams(location.search).get("token");
  history.replaceState(null, "", location.pathname);
  return token;
}

const NO_TOKEN = "This link is incomplete: open the link from your email again.";

function startReset() {
  const section = $("#reset-section");
  const form = $("#reset-form");
  const token = takeToken();
  section.hidden = false;
  if (!token) {
    form.hidden = true;
    show(section, NO_TOKEN, "error");
    return;
  }
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearMessages(section);
    const { new_password } = Object.fromEntries(new FormData(form));
    const result = await call("POST", "/password/reset", { token, new_password });
    if (result.ok) {
      form.hidden = true;
      show(section, `${result.data.message}. Log in with your new password.`, "ok");
      await refresh(); // every session of the account has ended
    } else {
      showError(section, result);
      if (result.status === 400) form.hidden = true; // spent, expired or unknown: ask for a new one
    }
  });
}

async function startVerify() {
  const section = $("#verify-section");
  const token = takeToken();
  section.hidden = false;
  if (!token) {
    show(section, NO_TOKEN, "error");
    return;
  }
  show(section, "Checking your link…", "");
  const result = await call("POST", "/email/verify", { token });
  if (result.ok) {
    show(section, `Your email address ${result.data.email} is verified.`, "ok");
  } else {
    showError(section, result);
  }
}

// --- signed in: account, password, sessions, activity, deletion ----------------------

const panel = $("#me-panel");

document.getElementById("me-button").addEventListener("click", async () => {
  document.querySelectorAll(".signed-in").forEach(clearMessages); // the whole account, afresh
  const result = await call("GET", "/me");
  if (result.ok) {
    showAccount(result.data);
    show(panel, `You are ${result.data.username}.`, "ok");
  } else {
    failed(panel, result);
  }
});

document.getElementById("logout-button").addEventListener("click", async () => {
  const result = await call("POST", "/logout");
  if (result.ok) {
    signedOut(result.data.message, "ok");
  } else {
    showError(panel, result);
  }
});

document.getElementById("resend-button").addEventListener("click", async () => {
  clearMessages(panel);
  const result = await call("POST", "/email/verify/resend");
  if (result.ok) {
    show(panel, result.data.message, "ok");
  } else {
    failed(panel, result);
  }
});

document.getElementById("change-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  clearMessages(form);
  const result = await call("POST", "/password/change", Object.fromEntries(new FormData(form)));
  if (result.ok) {
    form.reset();
    show(form, `${result.data.message}. ${plural(result.data.ended, "other session", "other sessions")} ended.`, "ok");
  } else {
    failed(form, result);
  }
  reloadLists();
});

const KINDS = { cookie: "browser", bearer: "API token" };

function sessionRow(session) {
  const row = element("tr");
  const kind = element("td", KINDS[session.kind] || session.kind);
  if (session.current) {
    row.className = "current";
    kind.append(" ", element("strong", "this device", "badge"));
  }
  const action = element("td");
  if (!session.current) {
    const button = element("button", "End session", "small");
    button.type = "button";
    button.addEventListener("click", () => endSession(session.id));
    action.append(button);
  }
  row.append(kind, element("td", session.ip || "unknown"),
    element("td", session.user_agent || "unknown", "agent"), timeCell(session.last_seen_at), action);
  return row;
}

const sessionsSection = $("#sessions-section");

async function loadSessions() {
  const result = await call("GET", "/sessions");
  if (result.ok) {
    if (signedIn()) $("#sessions-list").replaceChildren(...result.data.map(sessionRow));
  } else {
    failed(sessionsSection, result);
  }
}

async function endSession(handle) {
  clearMessages(sessionsSection);
  const result = await call("DELETE", "/sessions/" + encodeURIComponent(handle));
  if (result.ok) {
    show(sessionsSection, "Session ended: that device is logged out.", "ok");
  } else {
    failed(sessionsSection, result);
  }
  reloadLists();
}

document.getElementById("logout-others-button").addEventListener("click", async () => {
  clearMessages(sessionsSection);
  const result = await call("POST", "/logout-all", { keep_current: true });
  if (result.ok) {
    show(sessionsSection, `${result.data.message}: ${plural(result.data.ended, "session", "sessions")} ended.`, "ok");
  } else {
    failed(sessionsSection, result);
  }
  reloadLists();
});

const EVENTS = {
  login: "Logged in",
  login_failed: "Wrong password",
  logout: "Logged out",
  session_revoked: "Session ended",
  logout_all: "Logged out of other sessions",
  password_changed: "Password changed",
  password_reset: "Password reset by email",
  email_verified: "Email verified",
  totp_enabled: "Two-factor authentication turned on",
  totp_disabled: "Two-factor authentication turned off",
  recovery_codes_regenerated: "New recovery codes",
  second_factor_failed: "Wrong second-factor code",
};

function eventRow(event) {
  const row = element("tr");
  row.dataset.type = event.type;
  row.append(element("td", EVENTS[event.type] || event.type), timeCell(event.at),
    element("td", event.ip || "unknown"), element("td", event.user_agent || "unknown", "agent"));
  return row;
}

const eventsSection = $("#events-section");

async function loadEvents() {
  const result = await call("GET", "/events");
  if (!result.ok) {
    failed(eventsSection, result);
  } else if (signedIn()) {
    const rows = result.data.map(eventRow);
    if (rows.length === 0) {
      const empty = element("td", "Nothing yet.");
      empty.colSpan = 4;
      rows.push(element("tr"));
      rows[0].append(empty);
    }
    $("#events-list").replaceChildren(...rows);
  }
}

document.getElementById("delete-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  clearMessages(form);
  const { password, confirm } = Object.fromEntries(new FormData(form));
  if (!confirm) {
    form.querySelector('.field-error[data-field="confirm"]').textContent = "Tick this box to confirm.";
    show(form, "Your account was not deleted.", "error");
    return;
  }
  const result = await call("POST", "/account/delete", { password });
  if (result.ok) {
    signedOut(`${result.data.message}. You are logged out.`, "ok");
  } else {
    failed(form, result);
  }
});

// --- start --------------------------------------------------------------------------

async function start() {
  const flow = document.body.dataset.flow;
  if (flow === "reset-password") startReset();
  if (flow === "verify-email") await startVerify();
  await refresh();
}

start();
