// The Cirrus portal: a client of the public /api/v1, like cirrusctl. It
// builds every element with textContent (never innerHTML), so text from
// the API or the address bar is always shown as text.
"use strict";

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const CSRF = "cirrus.csrf";

/** An element with attributes and children (strings become text nodes). */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (v !== false && v !== undefined && v !== null) el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c !== null && c !== undefined) el.append(typeof c === "string" || typeof c === "number" ? String(c) : c);
  }
  return el;
}

function show(title, ...content) {
  document.title = `${title} · Cirrus`;
  main.replaceChildren(h("h1", {}, title), ...content);
  main.focus();
}

/** An API error with the server's message, or a plain one for other failures. */
class ApiError extends Error {
  constructor(status, message, retryAfter) {
    super(message);
    this.status = status;
    this.retryAfter = retryAfter;
  }
}

/** Calls /api/v1 with the session cookie (and the CSRF token on writes). */
async function api(method, path, body) {
  const headers = { accept: "application/json" };
  if (body !== undefined) headers["content-type"] = "application/json";
  if (method !== "GET") headers["x-csrf-token"] = sessionStorage.getItem(CSRF) || "";
  let res;
  try {
    res = await fetch(`/api/v1${path}`, {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, "The Cirrus API cannot be reached. Is it running?");
  }
  if (res.status === 204) return null;
  let json = null;
  try {
    json = await res.json();
  } catch {
    json = null;
  }
  if (!res.ok) {
    const message = json && json.error ? json.error.message : `The API answered ${res.status}.`;
    throw new ApiError(res.status, message, Number(res.headers.get("retry-after")) || null);
  }
  return json;
}

function problem(e) {
  return h("p", { class: "error", role: "alert" }, e.message || String(e));
}

// --- screens ---

function login(message) {
  nav.hidden = true;
  const user = h("input", { id: "user", name: "username", autocomplete: "username", required: true });
  const pass = h("input", { id: "password", name: "password", type: "password", autocomplete: "current-password", required: true });
  const status = h("div", { "aria-live": "polite" }, message ? problem({ message }) : null);
  const submit = h("button", { type: "submit" }, "Log in");
  const form = h(
    "form",
    {
      class: "login",
      onsubmit: async (ev) => {
        ev.preventDefault();
        submit.disabled = true;
        try {
          const r = await api("POST", "/auth/login", { username: user.value, password: pass.value });
          sessionStorage.setItem(CSRF, r.csrf_token);
          location.hash = "#/";
          await route();
        } catch (e) {
          pass.value = "";
          let text = e.message;
          if (e.status === 401) text = "Wrong user name or password.";
          if (e.status === 429) text = `Too many attempts. Try again in ${e.retryAfter || 1} s.`;
          status.replaceChildren(problem({ message: text }));
        } finally {
          submit.disabled = false;
        }
      },
    },
    h("label", { for: "user" }, "User name", user),
    h("label", { for: "password" }, "Password", pass),
    submit,
    status,
  );
  show("Log in", form);
  user.focus();
}

async function overview() {
  const [domains, nodes] = await Promise.all([countDomains(), api("GET", "/nodes")]);
  const up = nodes.items.filter((n) => n.enabled && n.active).length;
  const card = (n, what, href) =>
    h("div", { class: "card" }, h("div", { class: "n" }, n), h("a", { class: "what", href }, what));
  show(
    "Overview",
    h(
      "div",
      { class: "cards" },
      card(domains, domains === 1 ? "domain" : "domains", "#/domains"),
      card(`${up} / ${nodes.items.length}`, "edge nodes serving", "#/"),
    ),
  );
}

/** Every domain's name, counted a page of 1,000 at a time. */
async function countDomains() {
  let n = 0;
  let cursor = null;
  do {
    const q = cursor ? `&cursor=${encodeURIComponent(cursor)}` : "";
    const page = await api("GET", `/domains?limit=1000${q}`);
    n += page.items.length;
    cursor = page.next_cursor;
  } while (cursor);
  return n;
}

/** The cursor that starts a listing at the first name beginning with `prefix`. */
function cursorBefore(prefix) {
  if (!prefix) return null;
  const last = prefix.charCodeAt(prefix.length - 1);
  return prefix.slice(0, -1) + String.fromCharCode(Math.max(last - 1, 0)) + "\u007f";
}

async function domains(params) {
  const q = (params.get("q") || "").trim().toLowerCase();
  const cursor = params.get("cursor") || cursorBefore(q);
  const limit = 50;
  const page = await api("GET", `/domains?limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
  const items = q ? page.items.filter((d) => d.domain.startsWith(q)) : page.items;
  const more = page.next_cursor && items.length === page.items.length;
  const search = h("input", { id: "q", name: "q", type: "search", value: q });
  const form = h(
    "form",
    {
      class: "toolbar",
      role: "search",
      onsubmit: (ev) => {
        ev.preventDefault();
        location.hash = `#/domains?q=${encodeURIComponent(search.value.trim())}`;
      },
    },
    h("label", { for: "q" }, "Names starting with", search),
    h("button", { type: "submit" }, "Search"),
  );
  const rows = items.map((d) =>
    h(
      "tr",
      {},
      h("td", {}, d.domain),
      h("td", {}, d.enabled ? "yes" : "no"),
      h("td", { class: "hide-narrow" }, d.origins.map((o) => `${o.scheme}://${o.host}${o.port ? `:${o.port}` : ""}`).join(", ")),
      h("td", { class: "hide-narrow" }, d.tls.mode),
    ),
  );
  const table = rows.length
    ? h(
        "table",
        {},
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Domain"), h("th", { scope: "col" }, "Serving"), h("th", { scope: "col", class: "hide-narrow" }, "Origins"), h("th", { scope: "col", class: "hide-narrow" }, "TLS"))),
        h("tbody", {}, rows),
      )
    : h("p", {}, q ? `No domain starts with “${q}”.` : "No domains yet.");
  const next = more
    ? h("a", { href: `#/domains?q=${encodeURIComponent(q)}&cursor=${encodeURIComponent(page.next_cursor)}` }, "Next page")
    : null;
  show("Domains", form, table, h("div", { class: "pager" }, next));
}

// --- routing ---

const screens = { "": overview, domains };

async function route() {
  const [path, query] = location.hash.replace(/^#\/?/, "").split("?");
  if (path === "login") return login();
  let me;
  try {
    me = await api("GET", "/auth/me");
  } catch (e) {
    if (e.status === 401) return login(location.hash && location.hash !== "#/" ? "Log in to see that page." : null);
    return show("Cirrus", problem(e));
  }
  nav.hidden = false;
  document.getElementById("me").textContent = `${me.kind} ${me.id}`;
  const screen = screens[path];
  if (!screen) return show("Not found", h("p", {}, "There is no such page. "), h("a", { href: "#/" }, "Overview"));
  try {
    await screen(new URLSearchParams(query || ""));
  } catch (e) {
    if (e.status === 401) return login("Your session ended. Log in again.");
    show("Something went wrong", problem(e));
  }
}

document.getElementById("logout").addEventListener("click", async () => {
  try {
    await api("POST", "/auth/logout");
  } catch {
    // Logged out already, or the API is gone: the login page says the rest.
  }
  sessionStorage.removeItem(CSRF);
  location.hash = "#/login";
});

window.addEventListener("hashchange", route);
route();
