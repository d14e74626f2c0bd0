// The session flow through a TypeScript client generated from the live
// /openapi.json: openapi-typescript's types of its paths (./schema.d.ts,
// generated next to this file by tests/real/test_generated_clients.py), and
// openapi-fetch for the calls. Compiled with `tsc --strict`, run with node
// against AUTH_SERVICE_URL. Any mismatch throws: node exits non-zero.
import createClient from "openapi-fetch";
import type { paths } from "./schema.js";

const baseUrl = process.env.AUTH_SERVICE_URL;
if (!baseUrl) throw new Error("AUTH_SERVICE_URL is not set");

function check(condition: unknown, what: string): asserts condition {
  if (!condition) throw new Error(`mismatch: ${what}`);
}

function form(body: Record<string, unknown>): URLSearchParams {
  const fields = Object.entries(body).map(([key, value]): [string, string] => [key, String(value)]);
  return new URLSearchParams(fields);
}

const client = createClient<paths>({ baseUrl });
const bearer = (token: string) => ({ headers: { Authorization: `Bearer ${token}` } });

const suffix = Math.random().toString(36).slice(2, 10);
const username = `ts_${suffix}`;
const email = `${username}@example.com`;
const password = `ts-client-${suffix}-pass`;

// Register: 201 and the User.
const registered = await client.POST("/api/auth/register", { body: { username, email, password } });
check(registered.response.status === 201, `register answered ${registered.response.status}`);
const user = registered.data;
check(user !== undefined, "register: no body");
check(user.username === username && user.email === email, `register: ${JSON.stringify(user)}`);
check(Number.isInteger(user.id), "register: id");

// Token, with the JSON body: the bearer token for the rest of the flow.
const token = await client.POST("/api/auth/token", { body: { email, password } });
check(token.response.status === 200, `token answered ${token.response.status}`);
check(token.data !== undefined, "token: no body");
check(token.data.token_type === "Bearer", `token_type ${token.data.token_type}`);
check(token.data.user_id === String(user.id), `user_id ${token.data.user_id}`);
check(token.data.expires_in > 0, `expires_in ${token.data.expires_in}`);
const session = bearer(token.data.access_token);

// Token again, with the OAuth2 password form: a second session.
const second = await client.POST("/api/auth/token", {
  body: { username: email, password },
  bodySerializer: form,
  headers: { "Content-Type": "application/x-www-form-urlencoded" },
});
check(second.response.status === 200, `form token answered ${second.response.status}`);
check(second.data !== undefined, "form token: no body");
const secondSession = bearer(second.data.access_token);

// Me: the registered user.
const me = await client.GET("/api/auth/me", session);
check(me.response.status === 200, `me answered ${me.response.status}`);
check(me.data?.id === user.id && me.data.email === email, `me: ${JSON.stringify(me.data)}`);

// Sessions: both, this one current.
const sessions = await client.GET("/api/auth/sessions", session);
check(sessions.response.status === 200, `sessions answered ${sessions.response.status}`);
check(sessions.data !== undefined && sessions.data.length === 2, "sessions: two");
const current = sessions.data.filter((s) => s.current);
const others = sessions.data.filter((s) => !s.current);
check(current.length === 1 && current[0].kind === "bearer", "sessions: one current bearer");
check(others.length === 1, "sessions: one other");

// End the other session: 204, and its token is dead.
const ended = await client.DELETE("/api/auth/sessions/{handle}", {
  params: { path: { handle: others[0].id } },
  ...session,
});
check(ended.response.status === 204, `end session answered ${ended.response.status}`);
const deadMe = await client.GET("/api/auth/me", secondSession);
check(deadMe.response.status === 401, `me with the ended session answered ${deadMe.response.status}`);

// Logout: 200 and its message; then me is a 401 that names the scheme.
const logout = await client.POST("/api/auth/logout", session);
check(logout.response.status === 200, `logout answered ${logout.response.status}`);
check(logout.data?.message === "Successfully logged out", `logout: ${JSON.stringify(logout.data)}`);
const after = await client.GET("/api/auth/me", session);
check(after.response.status === 401, `me after logout answered ${after.response.status}`);
check(after.error?.detail === "Could not validate credentials", `401: ${JSON.stringify(after.error)}`);
check(after.response.headers.get("WWW-Authenticate") === "Bearer", "401: WWW-Authenticate");

console.log("flow ok");
