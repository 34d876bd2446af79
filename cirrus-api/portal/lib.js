// The Cirrus portal, first of its scripts (loaded in order, `defer`):
// the helpers every screen uses. The portal is a client of the public
// /api/v1, like cirrusctl. Elements are built with textContent (never
// innerHTML), so text from the API or the address bar is always text.
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

/** The shown screen's live event stream, closed when another screen is
 *  shown. `types` are event types; `onEvent` runs for each such event
 *  (about `subject` only, when given). */
let stream = null;
function live(types, onEvent, subject) {
  stopLive();
  const about = subject ? `&subject=${encodeURIComponent(subject)}` : "";
  stream = new EventSource(`/api/v1/events/stream?type=${types.map(encodeURIComponent).join(",")}${about}`);
  for (const type of types) stream.addEventListener(type, onEvent);
}

/** `f`, run at most once per `ms` however often it is asked for (the
 *  last ask is never lost). */
function coalesced(f, ms = 300) {
  let timer = null;
  return () => {
    if (!timer) timer = setTimeout(() => ((timer = null), f()), ms);
  };
}

function stopLive() {
  if (stream) stream.close();
  stream = null;
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

/** Calls /api/v1 with the session cookie (and the CSRF token on writes):
 *  the answer's JSON and `ETag`, or an ApiError with the status, the API's
 *  message, its field details and `Retry-After`. */
async function request(method, path, body, headers = {}) {
  const sent = { accept: "application/json", ...headers };
  if (body !== undefined) sent["content-type"] = "application/json";
  if (method !== "GET") sent["x-csrf-token"] = localStorage.getItem(CSRF) || "";
  let res;
  try {
    res = await fetch(`/api/v1${path}`, {
      method,
      headers: sent,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, "The Cirrus API cannot be reached. Is it running?");
  }
  const json = res.status === 204 ? null : await res.json().catch(() => null);
  if (!res.ok) {
    const code = json && json.error ? json.error.code : null;
    const e = new ApiError(
      res.status,
      code === "csrf_failed"
        ? "This page has no valid write key for your session (it was lost, or the session changed): log in again."
        : json && json.error ? json.error.message : `The API answered ${res.status}.`,
      Number(res.headers.get("retry-after")) || null,
    );
    e.code = code;
    e.details = (json && json.error && json.error.details) || [];
    throw e;
  }
  return { json, etag: res.headers.get("etag") };
}

/** `request`'s JSON alone. */
async function api(method, path, body, headers) {
  return (await request(method, path, body, headers)).json;
}

function problem(e) {
  return h("p", { class: "error", role: "alert" }, e.message || String(e));
}

function when(ms) {
  return ms ? new Date(ms).toLocaleString() : "—";
}

function copyButton(text, label) {
  return h(
    "button",
    {
      type: "button",
      class: "plain",
      "aria-label": label,
      onclick: async (ev) => {
        try {
          await navigator.clipboard.writeText(text);
          ev.target.textContent = "Copied";
        } catch {
          ev.target.textContent = "Select and copy";
        }
      },
    },
    "Copy",
  );
}

/** A search form: one labelled input per `[name, label, value]`; submitting
 *  it follows `#/screen?name=value&…` (the screen reads its filters back). */
function searchForm(screen, fields, button) {
  const inputs = fields.map(([name, , value]) => h("input", { id: name, name, type: "search", value }));
  return h(
    "form",
    {
      class: "toolbar",
      role: "search",
      onsubmit: (ev) => {
        ev.preventDefault();
        const query = inputs.map((i) => `${i.name}=${encodeURIComponent(i.value.trim())}`).join("&");
        location.hash = `#/${screen}?${query}`;
      },
    },
    fields.map(([name, label], i) => h("label", { for: name }, label, inputs[i])),
    h("button", { type: "submit" }, button),
  );
}

/** A table in a region that scrolls sideways when the screen is narrower
 *  than the table (focusable, so the keyboard can scroll it too). */
function table(headers, rows, empty) {
  if (!rows.length) return h("p", {}, empty);
  const label = headers.filter(Boolean).join(", ");
  return h(
    "div",
    { class: "scroll", tabindex: "0", role: "region", "aria-label": label },
    h(
      "table",
      {},
      h("thead", {}, h("tr", {}, headers.map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, rows.map((cells) => h("tr", {}, cells.map((c) => h("td", {}, c))))),
    ),
  );
}

/** The certificate section of a domain's page: its state, and the two ways
 *  to get one (ask the CA, or upload a certificate and its key). */
