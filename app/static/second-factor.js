// The demo page's second factor: the second step of a login (a code from an
// authenticator app, or a recovery code) and, signed in, TOTP on and off and
// recovery codes. Loaded after app.js (both deferred), whose helpers (call,
// show, showError, failed, showAccount, ...) it uses. The second-step token
// lives only in this script's memory: never in storage or the address bar.
// Everything the server sends goes in with textContent, and the QR code is
// parsed as an SVG document and imported as nodes, never as HTML.
"use strict";

// --- the second step of a login ------------------------------------------------------

// Also what app/static/passkeys.js uses: SecondStep.token() for its options,
// SecondStep.finished(result) with the 200 of /login/second-factor and
// SecondStep.refused(result) with anything else.
const SecondStep = (() => {
  const loginForm = $("#login-form");
  const form = $("#second-step-form");
  let pending = null; // {token, methods, expires_in} from /login's 401

  function begin(challenge) {
    pending = challenge;
    clearMessages(form);
    loginForm.hidden = true;
    form.hidden = false;
    // Offered only when the account has a passkey; passkeys.js wires the button.
    $("#second-step-passkey").hidden = !challenge.methods.includes("passkey");
    form.querySelector('input[name="code"]').focus();
  }

  function end() {
    pending = null;
    form.reset();
    clearMessages(form);
    form.hidden = true;
    loginForm.hidden = false;
  }

  function finished(result) {
    end();
    show(notice, `Logged in as ${result.data.username}.`, "ok");
    showAccount(result.data);
  }

  function refused(result) {
    if (result.status === 400) {
      // Spent, expired, or too many wrong factors: start from the password again.
      end();
      show(loginForm, `${result.data && result.data.detail}: log in again.`, "error");
    } else {
      form.reset();
      showError(form, result);
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearMessages(form);
    if (!pending) return;
    const typed = String(new FormData(form).get("code") || "").trim();
    // Six digits are a TOTP code; anything else is tried as a recovery code.
    const factor = /^[0-9]{6}$/.test(typed) ? { code: typed } : { recovery_code: typed };
    const result = await call("POST", "/login/second-factor", { token: pending.token, ...factor });
    if (result.ok) {
      finished(result);
    } else {
      refused(result);
    }
  });

  $("#second-step-cancel").addEventListener("click", end);

  return {
    begin,
    finished,
    refused,
    token: () => (pending ? pending.token : null),
    methods: () => (pending ? pending.methods : []),
  };
})();

// --- signed in: TOTP on and off, recovery codes -----------------------------------------

(() => {
  const section = $("#totp-section");
  const status = $("#totp-status");
  const setupForm = $("#totp-setup-form");
  const enrol = $("#totp-enrol");
  const confirmForm = $("#totp-confirm-form");
  const codesBox = $("#recovery-codes");
  const disableForm = $("#totp-disable-form");
  const recoveryForm = $("#recovery-form");

  function showFactors(factors) {
    status.textContent = factors.totp
      ? "On: logging in asks for a code from your authenticator app. "
        + `${plural(factors.recovery_codes_left, "recovery code", "recovery codes")} left.`
      : "Off: logging in asks only for your password.";
    status.dataset.totp = String(factors.totp);
    setupForm.hidden = factors.totp;
    if (factors.totp) enrol.hidden = true;
    disableForm.hidden = !factors.totp;
    recoveryForm.hidden = !(factors.totp || factors.passkeys > 0);
  }

  async function load() {
    const result = await call("GET", "/second-factor");
    if (result.ok) {
      if (signedIn()) showFactors(result.data);
    } else {
      failed(section, result);
    }
  }

  function forget() {
    status.textContent = "";
    delete status.dataset.totp;
    enrol.hidden = true;
    codesBox.hidden = true;
    $("#totp-qr").replaceChildren();
    $("#totp-secret").textContent = "";
    $("#recovery-codes-list").replaceChildren();
  }

  // app.js marks the page signed in or out on <body>: follow it.
  new MutationObserver(() => (signedIn() ? load() : forget()))
    .observe(document.body, { attributes: true, attributeFilter: ["data-state"] });

  function qrCode(svgText) {
    const parsed = new DOMParser().parseFromString(svgText, "image/svg+xml");
    const svg = parsed.documentElement;
    if (svg.localName !== "svg" || parsed.querySelector("parsererror, script, foreignObject")) {
      return element("p", "The QR code cannot be shown: type the key instead.");
    }
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", "QR code of the key");
    return document.importNode(svg, true);
  }

  function showCodes(codes) {
    $("#recovery-codes-list").replaceChildren(...codes.map((code) => element("li", code)));
    codesBox.hidden = false;
  }

  function password(form) {
    return { password: String(new FormData(form).get("password") || "") };
  }

  setupForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearMessages(section);
    codesBox.hidden = true;
    const result = await call("POST", "/totp/setup", password(setupForm));
    setupForm.reset();
    if (result.ok) {
      $("#totp-qr").replaceChildren(qrCode(result.data.qr_svg));
      $("#totp-secret").textContent = result.data.secret;
      enrol.hidden = false;
      confirmForm.querySelector('input[name="code"]').focus();
    } else {
      failed(setupForm, result);
    }
    reloadLists();
  });

  confirmForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearMessages(section);
    const code = String(new FormData(confirmForm).get("code") || "").trim();
    const result = await call("POST", "/totp/confirm", { code });
    confirmForm.reset();
    if (result.ok) {
      enrol.hidden = true;
      $("#totp-qr").replaceChildren();
      $("#totp-secret").textContent = "";
      showCodes(result.data.recovery_codes);
      show(section, "Two-factor authentication is on. Your other sessions were logged out.", "ok");
      load();
    } else {
      failed(confirmForm, result);
    }
    reloadLists();
  });

  disableForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearMessages(section);
    const result = await call("POST", "/totp/disable", password(disableForm));
    disableForm.reset();
    if (result.ok) {
      codesBox.hidden = true;
      show(section, `${result.data.message}. Your other sessions were logged out.`, "ok");
      load();
    } else {
      failed(disableForm, result);
    }
    reloadLists();
  });

  recoveryForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearMessages(section);
    const result = await call("POST", "/recovery-codes", password(recoveryForm));
    recoveryForm.reset();
    if (result.ok) {
      showCodes(result.data.recovery_codes);
      show(section, "New recovery codes: the old ones no longer work.", "ok");
      load();
    } else {
      failed(recoveryForm, result);
    }
    reloadLists();
  });
})();
