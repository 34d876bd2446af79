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

/** Like `api`, for a GET whose `ETag` is needed too. */
async function apiWithTag(path) {
  const res = await fetch(`/api/v1${path}`, { headers: { accept: "application/json" }, credentials: "same-origin" }).catch(() => null);
  if (!res) throw new ApiError(0, "The Cirrus API cannot be reached. Is it running?");
  const json = await res.json().catch(() => null);
  if (!res.ok) throw new ApiError(res.status, json && json.error ? json.error.message : `The API answered ${res.status}.`);
  return { json, etag: res.headers.get("etag") };
}

/** A write with preconditions; the API's error (with its field details) is kept. */
async function write(method, path, body, preconditions) {
  const headers = {
    accept: "application/json",
    "content-type": "application/json",
    "x-csrf-token": sessionStorage.getItem(CSRF) || "",
    ...preconditions,
  };
  const res = await fetch(`/api/v1${path}`, { method, headers, credentials: "same-origin", body: JSON.stringify(body) }).catch(() => null);
  if (!res) throw new ApiError(0, "The Cirrus API cannot be reached. Is it running?");
  const json = res.status === 204 ? null : await res.json().catch(() => null);
  if (!res.ok) {
    const e = new ApiError(res.status, json && json.error ? json.error.message : `The API answered ${res.status}.`);
    e.details = (json && json.error && json.error.details) || [];
    throw e;
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
      h("td", {}, h("a", { href: `#/domain?name=${encodeURIComponent(d.domain)}` }, d.domain)),
      h("td", {}, d.enabled ? "yes" : "no"),
      h("td", { class: "hide-narrow" }, d.origins.map((o) => `${o.scheme}://${o.host}${o.port ? `:${o.port}` : ""}`).join(", ")),
      h("td", { class: "hide-narrow" }, d.tls.mode),
    ),
  );
  const listing = rows.length
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
  show("Domains", h("p", {}, h("a", { href: "#/edit" }, "New domain")), form, listing, h("div", { class: "pager" }, next));
}

/** Unix seconds or milliseconds as a local date and time. */
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

function table(headers, rows, empty) {
  if (!rows.length) return h("p", {}, empty);
  return h(
    "table",
    {},
    h("thead", {}, h("tr", {}, headers.map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, rows.map((cells) => h("tr", {}, cells.map((c) => h("td", {}, c))))),
  );
}

/** The certificate section of a domain's page: its state, and the two ways
 *  to get one (ask the CA, or upload a certificate and its key). */
function certificateSection(name, cert) {
  const path = `/domains/${encodeURIComponent(name)}/certificate`;
  const out = h("div", { id: "cert-result", "aria-live": "polite" });
  const state = h(
    "p",
    { id: "cert-state" },
    `${cert.status}${cert.has_certificate ? ", stored" : ", none stored"}${cert.not_after ? `, valid until ${when(cert.not_after * 1000)}` : ""}${cert.error ? ` — ${cert.error}` : ""}`,
  );
  const issue = h(
    "button",
    {
      id: "cert-issue",
      type: "button",
      class: "plain",
      onclick: async () => {
        try {
          const s = await api("POST", path);
          out.replaceChildren(h("p", {}, `Requested: ${s.status}${s.job_id ? ` (job ${s.job_id})` : ""}.`));
        } catch (e) {
          out.replaceChildren(problem(e));
        }
      },
    },
    "Request one from the CA (ACME DNS-01)",
  );
  const chain = h("textarea", { id: "cert-chain", rows: "4", placeholder: "-----BEGIN CERTIFICATE-----" });
  const key = h("textarea", { id: "cert-key", rows: "4", placeholder: "-----BEGIN PRIVATE KEY-----" });
  const upload = h(
    "form",
    {
      class: "domain-form",
      onsubmit: async (ev) => {
        ev.preventDefault();
        try {
          const s = await write("PUT", path, { fullchain: chain.value, key: key.value }, {});
          key.value = "";
          state.textContent = `${s.status}, stored, valid until ${when(s.not_after * 1000)}`;
          out.replaceChildren(h("p", {}, `Uploaded: ${s.status}, valid until ${when(s.not_after * 1000)}.`));
        } catch (e) {
          const reasons = (e.details || []).map((d) => h("p", { class: "error" }, `${d.field === "key" ? "Key" : "Certificate"}: ${d.reason}`));
          out.replaceChildren(problem(e), ...reasons);
        }
      },
    },
    h("label", { for: "cert-chain" }, "Certificate chain (PEM)", chain),
    h("label", { for: "cert-key" }, "Private key (PEM; sent once, never shown again)", key),
    h("button", { type: "submit" }, "Upload"),
  );
  return h("div", {}, state, h("p", {}, issue), h("details", {}, h("summary", {}, "Upload a certificate"), upload), out);
}

async function domainPage(params) {
  const name = params.get("name") || "";
  const path = `/domains/${encodeURIComponent(name)}`;
  const [view, status, cert] = await Promise.all([
    api("GET", path),
    api("GET", `${path}/status`).catch((e) => e),
    api("GET", `${path}/certificate`),
  ]);
  const records = view.dns
    ? table(
        ["Name", "Type", "Target", ""],
        [view.dns.cname, view.dns.acme_challenge].map((r) => [r.name, "CNAME", h("code", {}, r.target), copyButton(r.target, `Copy the target of ${r.name}`)]),
        "",
      )
    : h("p", {}, "The API was started without a zone, so the records are unknown.");
  let readiness;
  if (status instanceof Error) {
    readiness = problem(status);
  } else {
    const check = (c) => (c.ok ? "in place" : c.error || (c.found.length ? `points to ${c.found.join(", ")}` : "not set"));
    readiness = h(
      "div",
      {},
      h("p", { class: status.ready ? "" : "error" }, `${status.domain} is ${status.ready ? "ready" : "not ready"}.`),
      status.dns_error ? problem({ message: `The CDN's DNS leaves it out: ${status.dns_error}` }) : null,
      table(["Record", "State"], [["CNAME", check(status.cname)], ["_acme-challenge", check(status.acme_challenge)]], ""),
      h("h3", {}, "Edges"),
      table(
        ["Edge", "Revision", "Current"],
        status.edges.map((e) => [e.node, e.revision, e.current ? "yes" : "no"]),
        "No edge reports yet.",
      ),
    );
  }
  const purgeLink = h("a", { href: `#/purge?domain=${encodeURIComponent(name)}` }, "Purge this domain's cache");
  show(
    view.domain,
    h("p", {}, `Serving: ${view.enabled ? "yes" : "no"} · TLS: ${view.tls.mode} · origins: `, view.origins.map((o) => `${o.scheme}://${o.host}${o.port ? `:${o.port}` : ""}${o.backup ? " (backup)" : ""}`).join(", ")),
    h("h2", {}, "Records to set in the domain's DNS"),
    records,
    h("h2", {}, "Readiness"),
    readiness,
    h("h2", {}, "Certificate"),
    certificateSection(name, cert),
    h("p", {}, purgeLink),
    h("h2", {}, "Change"),
    h("p", {}, h("a", { href: `#/edit?name=${encodeURIComponent(name)}` }, "Edit this domain")),
    (() => {
      const confirm = h("div", { id: "delete-confirm", "aria-live": "polite" });
      const ask = h("button", { id: "delete", type: "button", class: "plain", onclick: () => deleteDomain(name, confirm) }, "Delete this domain…");
      return h("div", {}, ask, confirm);
    })(),
  );
}

async function purge(params) {
  const domain = h("input", { id: "domain", name: "domain", required: true, value: params.get("domain") || "" });
  const kind = h(
    "select",
    { id: "kind", name: "kind" },
    h("option", { value: "urls" }, "URL paths"),
    h("option", { value: "prefixes" }, "Path prefixes"),
    h("option", { value: "tags" }, "Tags"),
    h("option", { value: "all" }, "Everything"),
  );
  const what = h("input", { id: "what", name: "what", placeholder: "/index.html /img/logo.png" });
  const soft = h("input", { id: "soft", name: "soft", type: "checkbox" });
  const result = h("div", { "aria-live": "polite" });
  const submit = h("button", { type: "submit" }, "Purge");
  const form = h(
    "form",
    {
      class: "login",
      onsubmit: async (ev) => {
        ev.preventDefault();
        submit.disabled = true;
        const selection = { soft: soft.checked };
        if (kind.value === "all") selection.all = true;
        else selection[kind.value] = what.value.split(/\s+/).filter(Boolean);
        try {
          const accepted = await api("POST", `/domains/${encodeURIComponent(domain.value.trim())}/purge`, selection);
          await followPurge(accepted.id, result);
        } catch (e) {
          result.replaceChildren(problem(e));
        } finally {
          submit.disabled = false;
        }
      },
    },
    h("label", { for: "domain" }, "Domain", domain),
    h("label", { for: "kind" }, "Purge", kind),
    h("label", { for: "what" }, "Which (separated by spaces)", what),
    h("label", { for: "soft", class: "inline" }, soft, " Soft: mark stale instead of removing"),
    submit,
    result,
  );
  show("Purge", form);
}

/** Shows each edge's acknowledgement as it arrives (for up to 30 s). */
async function followPurge(id, into) {
  const deadline = Date.now() + 30000;
  for (let pause = 100; ; pause = Math.min(pause * 2, 2000)) {
    const s = await api("GET", `/purges/${encodeURIComponent(id)}`);
    const rows = [
      ...s.applied.map((a) => [a.node, "applied", `${a.delay_ms} ms`]),
      ...s.pending.map((n) => [n, "pending", ""]),
      ...s.silent.map((n) => [n, "silent (not reporting)", ""]),
    ];
    into.replaceChildren(
      h("p", { id: "purge-state" }, `Purge ${s.id}: ${s.complete ? "applied by every reporting edge" : "waiting for edges"}.`),
      table(["Edge", "State", "Delay"], rows, "No edge is registered."),
    );
    if (s.complete || Date.now() > deadline) return;
    await new Promise((r) => setTimeout(r, pause));
  }
}

async function nodes() {
  const list = await api("GET", "/nodes");
  const toggle = (n) =>
    h(
      "button",
      {
        type: "button",
        class: "plain",
        onclick: async (ev) => {
          ev.target.disabled = true;
          try {
            await api("POST", `/nodes/${encodeURIComponent(n.id)}/${n.enabled ? "disable" : "enable"}`);
            await nodes();
          } catch (e) {
            main.append(problem(e));
          }
        },
      },
      n.enabled ? `Disable ${n.id}` : `Enable ${n.id}`,
    );
  show(
    "Nodes",
    table(
      ["Node", "Addresses", "Enabled", "Active", "Failures", "Revision", "Behind", ""],
      list.items.map((n) => [
        n.id,
        [n.ipv4, n.ipv6].filter(Boolean).join(" "),
        n.enabled ? "yes" : "no",
        n.active ? "yes" : "no",
        n.health.consecutive_failures,
        n.edge ? n.edge.revision : "—",
        n.edge && n.edge.behind !== undefined && n.edge.behind !== null ? n.edge.behind : "—",
        toggle(n),
      ]),
      "No nodes yet.",
    ),
  );
}

async function audit(params) {
  const actor = (params.get("actor") || "").trim();
  const resource = (params.get("resource") || "").trim();
  const list = await api("GET", "/audit?limit=1000");
  const items = list.items.filter((r) => r.actor.includes(actor) && r.resource.includes(resource));
  const a = h("input", { id: "actor", name: "actor", value: actor });
  const r = h("input", { id: "resource", name: "resource", value: resource });
  const form = h(
    "form",
    {
      class: "toolbar",
      role: "search",
      onsubmit: (ev) => {
        ev.preventDefault();
        location.hash = `#/audit?actor=${encodeURIComponent(a.value)}&resource=${encodeURIComponent(r.value)}`;
      },
    },
    h("label", { for: "actor" }, "Actor contains", a),
    h("label", { for: "resource" }, "Resource contains", r),
    h("button", { type: "submit" }, "Filter"),
  );
  show(
    "Audit log",
    form,
    table(
      ["When", "Actor", "Action", "Resource"],
      items.slice(0, 200).map((x) => [when(x.at_ms), x.actor, x.action, x.resource]),
      "No record matches.",
    ),
  );
}

/** The domain form: create (no `name`) or edit (every setting the form
 *  does not show is kept, and the write applies only to the version read). */
async function domainForm(params) {
  const name = params.get("name");
  let conf = { origins: [{ scheme: "http", host: "", weight: 1, backup: false }], enabled: true, cache: {}, tls: { mode: "none" } };
  let etag = null;
  if (name) {
    const got = await apiWithTag(`/domains/${encodeURIComponent(name)}`);
    conf = got.json;
    delete conf.dns;
    etag = got.etag;
  }
  const errors = new Map();
  const field = (id, label, input, hint) => {
    const err = h("span", { class: "error", id: `${id}-error` });
    errors.set(id, err);
    input.setAttribute("aria-describedby", `${id}-error`);
    return h("label", { for: id }, label, hint ? h("span", { class: "hint" }, hint) : null, input, err);
  };
  const domain = h("input", { id: "f-domain", name: "domain", required: true, value: name || "", readonly: !!name });
  const rows = h("div", { class: "origins" });
  const addRow = (o, i) => {
    const url = h("input", { id: `f-origin-${i}`, value: o.host ? `${o.scheme}://${o.host.includes(":") ? `[${o.host}]` : o.host}${o.port ? `:${o.port}` : ""}` : "", placeholder: "https://203.0.113.7" });
    const weight = h("input", { id: `f-weight-${i}`, type: "number", value: o.weight ?? 1 });
    const backup = h("input", { id: `f-backup-${i}`, type: "checkbox", checked: !!o.backup });
    const row = h(
      "fieldset",
      { class: "origin" },
      h("legend", {}, `Origin ${i + 1}`),
      field(`f-origin-${i}`, "URL", url),
      field(`f-weight-${i}`, "Weight", weight),
      h("label", { for: `f-backup-${i}`, class: "inline" }, backup, " Backup (used only when the others fail)"),
    );
    row.read = () => {
      let u;
      try {
        u = new URL(url.value.trim());
      } catch {
        return { ...o, scheme: "http", host: url.value.trim(), weight: Number(weight.value), backup: backup.checked };
      }
      const out = { ...o, scheme: u.protocol.replace(":", ""), host: u.hostname.replace(/^\[|\]$/g, ""), weight: Number(weight.value), backup: backup.checked };
      if (u.port) out.port = Number(u.port);
      else delete out.port;
      return out;
    };
    rows.append(row);
  };
  conf.origins.forEach(addRow);
  const more = h("button", { type: "button", class: "plain", onclick: () => addRow({ scheme: "https", host: "", weight: 1 }, rows.children.length) }, "Add an origin");
  const seconds = (id, label, value) => field(id, label, h("input", { id, type: "number", min: "0", value: value ?? "" }), " (seconds; empty: none)");
  const ttl = seconds("f-ttl", "Default TTL", conf.cache.default_ttl);
  const swr = seconds("f-swr", "Serve stale while revalidating", conf.cache.stale_while_revalidate);
  const sie = seconds("f-sie", "Serve stale if the origin fails", conf.cache.stale_if_error);
  const compress = h("input", { id: "f-compress", type: "checkbox", checked: conf.cache.compress !== false });
  const cacheOn = h("input", { id: "f-cache", type: "checkbox", checked: conf.cache.enabled !== false });
  const enabled = h("input", { id: "f-enabled", type: "checkbox", checked: conf.enabled !== false });
  const mode = h("select", { id: "f-tls" }, ["none", "acme", "manual"].map((m) => h("option", { value: m, selected: conf.tls.mode === m }, m)));
  const rules = h("textarea", { id: "f-rules", rows: "4" }, JSON.stringify(conf.cache.rules || [], null, 1));
  const general = h("div", { "aria-live": "polite" });
  const submit = h("button", { type: "submit" }, name ? "Save" : "Create");
  const form = h(
    "form",
    {
      class: "domain-form",
      novalidate: true,
      onsubmit: async (ev) => {
        ev.preventDefault();
        for (const e of errors.values()) e.textContent = "";
        general.replaceChildren();
        const target = domain.value.trim();
        const out = { ...conf, domain: target, enabled: enabled.checked };
        out.origins = [...rows.children].map((r) => r.read()).filter((o) => o.host);
        out.tls = { ...conf.tls, mode: mode.value };
        const num = (el) => (el.querySelector("input").value === "" ? undefined : Number(el.querySelector("input").value));
        out.cache = { ...conf.cache, enabled: cacheOn.checked, compress: compress.checked, default_ttl: num(ttl), stale_while_revalidate: num(swr), stale_if_error: num(sie) };
        try {
          out.cache.rules = JSON.parse(rules.value || "[]");
        } catch {
          errors.get("f-rules").textContent = "Not JSON: a list of rules, as in docs/models.md.";
          return;
        }
        submit.disabled = true;
        try {
          await write("PUT", `/domains/${encodeURIComponent(target)}`, out, name ? { "if-match": etag } : { "if-none-match": "*" });
          location.hash = `#/domain?name=${encodeURIComponent(target)}`;
        } catch (e) {
          if (e.status === 412) {
            general.replaceChildren(problem({ message: name ? "Someone changed this domain since you opened it. Reload to see their change." : "This domain exists already." }));
          } else {
            const unplaced = [];
            let first = null;
            for (const d of e.details || []) {
              const m = /^origins\[(\d+)\]\.(host|port|scheme)$/.exec(d.field) || [];
              const w = /^origins\[(\d+)\]\.weight$/.exec(d.field) || [];
              const id = m[1] !== undefined ? `f-origin-${m[1]}` : w[1] !== undefined ? `f-weight-${w[1]}`
                : { domain: "f-domain", "cache.default_ttl": "f-ttl", "cache.stale_while_revalidate": "f-swr", "cache.stale_if_error": "f-sie" }[d.field]
                || (d.field.startsWith("cache.rules") ? "f-rules" : null);
              if (id && errors.has(id)) {
                errors.get(id).textContent = d.reason;
                first = first || id;
              } else {
                unplaced.push(`${d.field}: ${d.reason}`);
              }
            }
            const summary = first && !unplaced.length ? { message: "The API refused the domain: see the fields marked above." } : e;
            general.replaceChildren(problem(summary), ...unplaced.map((u) => h("p", { class: "error" }, u)));
            if (first) document.getElementById(first).focus();
          }
        } finally {
          submit.disabled = false;
        }
      },
    },
    field("f-domain", "Domain", domain),
    rows,
    more,
    h("label", { for: "f-enabled", class: "inline" }, enabled, " Serve the domain"),
    h("label", { for: "f-cache", class: "inline" }, cacheOn, " Cache"),
    ttl,
    swr,
    sie,
    h("label", { for: "f-compress", class: "inline" }, compress, " Compress text (gzip, brotli)"),
    field("f-tls", "TLS", mode),
    field("f-rules", "Cache rules (JSON)", rules),
    general,
    submit,
  );
  show(name ? `Edit ${name}` : "New domain", form);
}

async function deleteDomain(name, where) {
  const really = h(
    "button",
    {
      type: "button",
      onclick: async () => {
        try {
          await api("DELETE", `/domains/${encodeURIComponent(name)}`);
          location.hash = "#/domains";
        } catch (e) {
          where.replaceChildren(problem(e));
        }
      },
    },
    `Delete ${name}`,
  );
  const cancel = h("button", { type: "button", class: "plain", onclick: () => where.replaceChildren() }, "Keep it");
  where.replaceChildren(h("p", { class: "error" }, `Delete ${name}? Its edges stop serving it.`), really, " ", cancel);
  cancel.focus();
}

const SCOPES = ["read", "domains:write", "purge", "certs", "nodes"];

async function tokens() {
  const list = await api("GET", "/tokens");
  const name = h("input", { id: "t-name", name: "name", required: true });
  const boxes = SCOPES.map((sc) => h("input", { id: `t-${sc.replace(":", "-")}`, type: "checkbox", value: sc }));
  const domainsInput = h("input", { id: "t-domains", name: "domains", placeholder: "shop.example.com www.example.com" });
  const days = h("input", { id: "t-days", name: "days", type: "number", min: "1" });
  const out = h("div", { id: "t-result", "aria-live": "polite" });
  const form = h(
    "form",
    {
      class: "domain-form",
      onsubmit: async (ev) => {
        ev.preventDefault();
        const domains = domainsInput.value.split(/\s+/).filter(Boolean);
        const request = { name: name.value.trim(), scopes: boxes.filter((b) => b.checked).map((b) => b.value) };
        if (domains.length) request.domains = domains;
        if (days.value) request.expires_at = Math.floor(Date.now() / 1000) + Number(days.value) * 86400;
        try {
          const made = await write("POST", "/tokens", request, {});
          // Shown once: not kept anywhere, gone when the page changes.
          out.replaceChildren(
            h("p", {}, `Token ${made.token.id} created. Its secret is shown this once:`),
            h("p", {}, h("code", { id: "t-secret" }, made.secret), " ", copyButton(made.secret, "Copy the secret")),
            h("p", {}, h("a", { href: "#/tokens", onclick: () => setTimeout(route) }, "Done: back to the list")),
          );
          form.reset();
        } catch (e) {
          out.replaceChildren(problem(e), ...(e.details || []).map((d) => h("p", { class: "error" }, `${d.field}: ${d.reason}`)));
        }
      },
    },
    h("label", { for: "t-name" }, "Name", name),
    h("fieldset", { class: "origin" }, h("legend", {}, "Scopes"), SCOPES.map((sc, i) => h("label", { class: "inline", for: boxes[i].id }, boxes[i], ` ${sc}`))),
    h("label", { for: "t-domains" }, "Only these domains (separated by spaces; empty: all)", domainsInput),
    h("label", { for: "t-days" }, "Expires after (days; empty: never)", days),
    h("button", { type: "submit" }, "Create token"),
  );
  const revoke = (t) =>
    h(
      "button",
      {
        type: "button",
        class: "plain",
        onclick: async () => {
          try {
            await api("DELETE", `/tokens/${encodeURIComponent(t.id)}`);
            await tokens();
          } catch (e) {
            main.append(problem(e));
          }
        },
      },
      `Revoke ${t.name}`,
    );
  show(
    "Service tokens",
    table(
      ["Name", "Id", "Scopes", "Domains", "Expires", ""],
      list.items.map((t) => [t.name, t.id, t.scopes.join(" "), t.domains ? t.domains.join(" ") : "all", t.expires_at ? when(t.expires_at * 1000) : "never", revoke(t)]),
      "No service tokens.",
    ),
    h("h2", {}, "New token"),
    form,
    out,
  );
}

// --- routing ---

const screens = { "": overview, domains, domain: domainPage, edit: domainForm, purge, nodes, tokens, audit };

async function route() {
  const [path, query] = location.hash.replace(/^#\/?/, "").split("?");
  if (path === "login") return login();
  let me;
  try {
    me = await api("GET", "/auth/me");
  } catch (e) {
    if (e.status === 401) return login(location.hash && location.hash !== "#/" ? "Log in to see that page." : null);
    return show("The API does not answer", problem(e), h("p", {}, "The page tries again when you follow a link."));
  }
  nav.hidden = false;
  document.getElementById("me").textContent = `${me.kind} ${me.id}`;
  const screen = screens[path];
  if (!screen) return show("Not found", h("p", {}, "There is no such page. "), h("a", { href: "#/" }, "Overview"));
  try {
    await screen(new URLSearchParams(query || ""));
  } catch (e) {
    if (e.status === 401) return login("Your session ended. Log in again.");
    if (e.status === 404 && path === "domain") {
      return show("No such domain", problem({ message: `${e.message}: deleted elsewhere, or never created.` }), h("a", { href: "#/domains" }, "Back to the domains"));
    }
    show("Something went wrong", problem(e), h("p", {}, h("a", { href: "#/" }, "Try the overview again")));
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
