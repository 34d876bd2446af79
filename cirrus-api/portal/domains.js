// The portal's domain screens: the list, a domain's page (records,
// readiness, certificate), and the form that creates or edits one.
"use strict";

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
  const form = searchForm("domains", [["q", "Names starting with", q]], "Search");
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

/** A certificate's state in one line. */
function certText(cert) {
  return `${cert.status}${cert.has_certificate ? ", stored" : ", none stored"}${cert.not_after ? `, valid until ${when(cert.not_after * 1000)}` : ""}${cert.error ? ` — ${cert.error}` : ""}`;
}

function certificateSection(name, cert) {
  const path = `/domains/${encodeURIComponent(name)}/certificate`;
  const out = h("div", { id: "cert-result", "aria-live": "polite" });
  const state = h("p", { id: "cert-state" }, certText(cert));
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
          const s = await api("PUT", path, { fullchain: chain.value, key: key.value });
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

/** What a domain serves, in one line. */
function summaryOf(view) {
  return `Serving: ${view.enabled ? "yes" : "no"} · TLS: ${view.tls.mode} · origins: ${view.origins.map((o) => `${o.scheme}://${o.host}${o.port ? `:${o.port}` : ""}${o.backup ? " (backup)" : ""}`).join(", ")}`;
}

/** The readiness check's answer (or why there is none). */
function readinessOf(status) {
  if (status instanceof Error) return problem(status);
  const check = (c) => (c.ok ? "in place" : c.error || (c.found.length ? `points to ${c.found.join(", ")}` : "not set"));
  return h(
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

/** A domain's page, kept up to date from the event stream: its summary
 *  when it changes, its readiness when that changes, its certificate
 *  when one is issued, renewed or fails; a note when it is deleted. */
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
  const summary = h("p", { id: "summary" }, summaryOf(view));
  const readiness = h("div", { id: "readiness" }, readinessOf(status));
  const news = h("p", { id: "live-note", "aria-live": "polite" });
  const purgeLink = h("a", { href: `#/purge?domain=${encodeURIComponent(name)}` }, "Purge this domain's cache");
  show(
    view.domain,
    summary,
    news,
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
  const types = ["domain.updated", "domain.deleted", "domain.ready", "domain.not_ready",
    "certificate.issued", "certificate.renewed", "certificate.failed"];
  live(types, async (ev) => {
    try {
      if (ev.type === "domain.deleted") {
        news.replaceChildren(problem({ message: `${name} was deleted.` }));
        return;
      }
      if (ev.type === "domain.updated") summary.textContent = summaryOf(await api("GET", path));
      if (ev.type.startsWith("domain.")) {
        readiness.replaceChildren(readinessOf(await api("GET", `${path}/status`).catch((e) => e)));
      }
      if (ev.type.startsWith("certificate.")) {
        const state = document.getElementById("cert-state");
        if (state) state.textContent = certText(await api("GET", `${path}/certificate`));
      }
      news.textContent = `Updated live at ${new Date().toLocaleTimeString()} (${ev.type}).`;
    } catch (e) {
      news.replaceChildren(problem(e));
    }
  }, name);
}

async function domainForm(params) {
  const name = params.get("name");
  let conf = { origins: [{ scheme: "http", host: "", weight: 1, backup: false }], enabled: true, cache: {}, tls: { mode: "none" } };
  let etag = null;
  if (name) {
    const got = await request("GET", `/domains/${encodeURIComponent(name)}`);
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
  const shield = conf.shield || { mode: "off" };
  const shieldMode = h("select", { id: "f-shield" }, [["off", "off"], ["cluster", "every edge (cluster)"], ["nodes", "these nodes"]].map(([m, label]) => h("option", { value: m, selected: shield.mode === m }, label)));
  const shieldNodes = h("input", { id: "f-shield-nodes", value: (shield.nodes || []).join(", ") });
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
        const ids = shieldNodes.value.split(",").map((s) => s.trim()).filter(Boolean);
        out.shield = shieldMode.value === "nodes" ? { mode: "nodes", nodes: ids } : { mode: shieldMode.value };
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
          await api("PUT", `/domains/${encodeURIComponent(target)}`, out, name ? { "if-match": etag } : { "if-none-match": "*" });
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
                || (d.field.startsWith("cache.rules") ? "f-rules" : d.field.startsWith("shield.nodes") ? "f-shield-nodes" : null);
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
    field("f-shield", "Shielding (edges fetch from the object's owner edge before the origin)", shieldMode),
    field("f-shield-nodes", "Shield nodes", shieldNodes, " (node ids, comma-separated; with “these nodes”)"),
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
