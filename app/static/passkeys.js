// Passkeys on the demo page: sign in without a password, and add, rename and
// remove the account's passkeys. Loaded after app.js, whose helpers (call,
// show, showError, failed, showAccount, element, timeCell, notice, $) it uses.
// The server sends WebAuthn options as JSON with binary values in base64url;
// they are decoded here for navigator.credentials, and the answer encoded back.
"use strict";

function fromBase64url(text) {
  const base64 = text.replace(/-/g, "+").replace(/_/g, "/");
  const binary = atob(base64 + "=".repeat((4 - (base64.length % 4)) % 4));
  return Uint8Array.from(binary, (char) => char.charCodeAt(0)).buffer;
}

function toBase64url(buffer) {
  const bytes = new Uint8Array(buffer);
  let binary = "";
  bytes.forEach((byte) => { binary += String.fromCharCode(byte); });
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

const descriptors = (list) => (list || []).map((item) => ({ ...item, id: fromBase64url(item.id) }));

function creationOptions(json) {
  return {
    ...json,
    challenge: fromBase64url(json.challenge),
    user: { ...json.user, id: fromBase64url(json.user.id) },
    excludeCredentials: descriptors(json.excludeCredentials),
  };
}

function requestOptions(json) {
  const { challenge_id: _ignored, ...options } = json;
  return {
    ...options,
    challenge: fromBase64url(json.challenge),
    allowCredentials: descriptors(json.allowCredentials),
  };
}

function registrationJSON(credential) {
  const response = credential.response;
  return {
    id: credential.id,
    rawId: toBase64url(credential.rawId),
    type: credential.type,
    response: {
      clientDataJSON: toBase64url(response.clientDataJSON),
      attestationObject: toBase64url(response.attestationObject),
      transports: typeof response.getTransports === "function" ? response.getTransports() : [],
    },
  };
}

function assertionJSON(credential) {
  const response = credential.response;
  return {
    id: credential.id,
    rawId: toBase64url(credential.rawId),
    type: credential.type,
    response: {
      clientDataJSON: toBase64url(response.clientDataJSON),
      authenticatorData: toBase64url(response.authenticatorData),
      signature: toBase64url(response.signature),
      userHandle: response.userHandle ? toBase64url(response.userHandle) : null,
    },
  };
}

// The browser's refusal (the user cancelled, no authenticator, ...) in words.
const REFUSALS = {
  NotAllowedError: "it was cancelled or timed out",
  InvalidStateError: "this device already holds a passkey for this account",
  // WebAuthn needs a host name over HTTPS, or localhost: never an IP address.
  SecurityError: "passkeys work only on this site's name (https://…, or http://localhost), not an IP address",
};

function ceremonyFailed(container, error) {
  const reason = (error && REFUSALS[error.name]) || (error && error.message) || "the browser refused";
  show(container, `No passkey was used: ${reason}.`, "error");
}

// For the second step of a password login (second-factor.js): the answer of
// one of the account's passkeys, to send as {"token", "passkey"}.
async function passkeyForSecondStep(token) {
  const options = await call("POST", "/passkeys/authenticate/options", { token });
  if (!options.ok) return { ok: false, result: options };
  const credential = await navigator.credentials.get({ publicKey: requestOptions(options.data) });
  return { ok: true, passkey: assertionJSON(credential) };
}

// --- signed out: sign in with a passkey ---------------------------------------------

const passkeySignIn = $("#passkey-signin-section");

document.getElementById("passkey-login-button").addEventListener("click", async () => {
  clearMessages(passkeySignIn);
  if (!window.PublicKeyCredential) {
    show(passkeySignIn, "This browser cannot use passkeys.", "error");
    return;
  }
  const options = await call("POST", "/passkeys/authenticate/options", {});
  if (!options.ok) {
    showError(passkeySignIn, options);
    return;
  }
  let credential;
  try {
    credential = await navigator.credentials.get({ publicKey: requestOptions(options.data) });
  } catch (error) {
    ceremonyFailed(passkeySignIn, error);
    return;
  }
  const result = await call("POST", "/passkeys/login", {
    challenge_id: options.data.challenge_id,
    credential: assertionJSON(credential),
  });
  if (result.ok) {
    show(notice, `Signed in with a passkey as ${result.data.username}.`, "ok");
    showAccount(result.data);
  } else {
    showError(passkeySignIn, result);
  }
});

// --- the second step of a password login: a passkey instead of a code --------------

const secondStepForm = $("#second-step-form");

// Shown by second-factor.js when the account's second step takes a passkey.
document.getElementById("second-step-passkey").addEventListener("click", async () => {
  clearMessages(secondStepForm);
  const token = SecondStep.token();
  if (!token) return;
  if (!window.PublicKeyCredential) {
    show(secondStepForm, "This browser cannot use passkeys.", "error");
    return;
  }
  let answer;
  try {
    answer = await passkeyForSecondStep(token);
  } catch (error) {
    ceremonyFailed(secondStepForm, error);
    return;
  }
  if (!answer.ok) {
    SecondStep.refused(answer.result);
    return;
  }
  const result = await call("POST", "/login/second-factor", { token, passkey: answer.passkey });
  if (result.ok) {
    SecondStep.finished(result);
  } else {
    SecondStep.refused(result);
  }
});

// --- signed in: the account's passkeys ---------------------------------------------

const passkeysSection = $("#passkeys-section");
const passkeyForm = $("#passkey-form");

EVENTS.passkey_added = "Passkey added";
EVENTS.passkey_removed = "Passkey removed";

function passkeyPassword() {
  return new FormData(passkeyForm).get("password");
}

function passkeyRow(passkey) {
  const row = element("tr");
  row.dataset.id = passkey.id;
  const nameCell = element("td");
  const name = element("input");
  name.value = passkey.name;
  name.maxLength = 64;
  name.setAttribute("aria-label", `Name of passkey ${passkey.name}`);
  nameCell.append(name);
  const lastUsed = passkey.last_used_at ? timeCell(passkey.last_used_at) : element("td", "never");
  const actions = element("td");
  const rename = element("button", "Rename", "small");
  rename.type = "button";
  rename.addEventListener("click", () => renamePasskey(passkey.id, name.value));
  const remove = element("button", "Remove", "small danger");
  remove.type = "button";
  remove.setAttribute("aria-label", `Remove passkey ${passkey.name}`);
  remove.addEventListener("click", () => removePasskey(passkey.id));
  actions.append(rename, " ", remove);
  row.append(nameCell, timeCell(passkey.created_at), lastUsed, actions);
  return row;
}

async function loadPasskeys() {
  const result = await call("GET", "/passkeys");
  if (!result.ok) {
    failed(passkeysSection, result);
  } else if (signedIn()) {
    const rows = result.data.map(passkeyRow);
    if (rows.length === 0) {
      const empty = element("td", "No passkey yet.");
      empty.colSpan = 4;
      rows.push(element("tr"));
      rows[0].append(empty);
    }
    $("#passkeys-list").replaceChildren(...rows);
  }
}

passkeyForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearMessages(passkeysSection);
  const { name, password } = Object.fromEntries(new FormData(passkeyForm));
  if (!window.PublicKeyCredential) {
    show(passkeysSection, "This browser cannot create passkeys.", "error");
    return;
  }
  const options = await call("POST", "/passkeys/register/options", { password });
  if (!options.ok) {
    failed(passkeysSection, options);
    reloadLists();
    return;
  }
  let credential;
  try {
    credential = await navigator.credentials.create({ publicKey: creationOptions(options.data) });
  } catch (error) {
    ceremonyFailed(passkeysSection, error);
    return;
  }
  const result = await call("POST", "/passkeys/register", { credential: registrationJSON(credential), name });
  if (result.ok) {
    passkeyForm.reset();
    show(passkeysSection, `Passkey “${result.data.name}” added. Other sessions were signed out.`, "ok");
  } else {
    failed(passkeysSection, result);
  }
  loadPasskeys();
  reloadLists();
});

async function renamePasskey(id, name) {
  clearMessages(passkeysSection);
  const result = await call("PATCH", `/passkeys/${encodeURIComponent(id)}`, { name });
  if (result.ok) {
    show(passkeysSection, `Passkey renamed to “${result.data.name}”.`, "ok");
  } else {
    failed(passkeysSection, result);
  }
  loadPasskeys();
}

async function removePasskey(id) {
  clearMessages(passkeysSection);
  const result = await call("POST", `/passkeys/${encodeURIComponent(id)}/delete`, { password: passkeyPassword() });
  if (result.ok) {
    passkeyForm.reset();
    show(passkeysSection, `${result.data.message}. Other sessions were signed out.`, "ok");
  } else {
    failed(passkeysSection, result);
  }
  loadPasskeys();
  reloadLists();
}

// app.js shows and hides the account: follow it, without touching its code.
new MutationObserver(() => {
  if (signedIn()) {
    loadPasskeys();
  } else {
    $("#passkeys-list").replaceChildren();
    passkeyForm.reset();
  }
}).observe(document.body, { attributes: true, attributeFilter: ["data-state"] });
