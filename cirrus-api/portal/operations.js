// The portal's operations screens: purge with each edge's
// acknowledgement, the recent purges, certificates by end, nodes, service
// tokens, the audit log.
"use strict";

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
  show("Purge", form, h("p", {}, h("a", { href: "#/purges" }, "Recent purges"), " · ", h("a", { href: "#/purges?pending=1" }, "Pending purges")));
  const id = params.get("id");
  if (id) await followPurge(id, result);
}

/** The last day's purges, newest first (only the pending ones with
 *  `pending=1`), each linking to its acknowledgements; drawn again when
 *  a purge is requested, completed or left incomplete. */
async function purges(params) {
  const redraw = () => purges(params).catch((e) => show("Something went wrong", problem(e)));
  live(["purge.requested", "purge.completed", "purge.incomplete"], redraw);
  const pending = params.get("pending") === "1";
  const list = await api("GET", `/purges?limit=200${pending ? "&pending=true" : ""}`);
  show(
    pending ? "Pending purges" : "Recent purges",
    h("p", {}, pending ? h("a", { href: "#/purges" }, "Show every recent purge") : h("a", { href: "#/purges?pending=1" }, "Show the pending ones only"), " · ", h("a", { href: "#/purge" }, "New purge")),
    table(
      ["Purge", "Domain", "Published", "Applied", "Pending", "Silent"],
      list.items.map((p) => [
        h("a", { href: `#/purge?id=${encodeURIComponent(p.id)}&domain=${encodeURIComponent(p.domain)}` }, p.id),
        p.domain,
        when(p.published_ms),
        String(p.applied.length),
        p.pending.join(" ") || "none",
        String(p.silent.length),
      ]),
      pending ? "No purge is waiting for an edge." : "No purge in the last day.",
    ),
  );
}

/** Stored certificates by end, soonest first (`days`: ending within). */
async function certificates(params) {
  const days = params.get("days");
  const list = await api("GET", `/certificates?limit=1000${days ? `&expiring_within_days=${encodeURIComponent(days)}` : ""}`);
  const now = Date.now() / 1000;
  const left = (end) => (end < now ? "expired" : `${Math.floor((end - now) / 86400)} days`);
  show(
    days ? `Certificates ending within ${days} days` : "Certificates",
    h("p", {}, days ? h("a", { href: "#/certificates" }, "Show every certificate") : h("a", { href: "#/certificates?days=14" }, "Show those ending within 14 days")),
    table(
      ["Domain", "Ends", "Left", "Issuance", "Last error"],
      list.items.map((c) => [
        h("a", { href: `#/domain?name=${encodeURIComponent(c.domain)}` }, c.domain),
        when(c.not_after * 1000),
        left(c.not_after),
        c.status,
        c.error || "",
      ]),
      days ? "No certificate ends that soon." : "No certificate is stored.",
    ),
  );
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
    // Done, given up, or the page left (the screen is no longer shown).
    if (s.complete || Date.now() > deadline || !into.isConnected) return;
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

const SCOPES = ["read", "domains:write", "purge", "certs", "nodes", "webhooks"];

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
        const wanted = { name: name.value.trim(), scopes: boxes.filter((b) => b.checked).map((b) => b.value) };
        if (domains.length) wanted.domains = domains;
        if (days.value) wanted.expires_at = Math.floor(Date.now() / 1000) + Number(days.value) * 86400;
        try {
          const made = await api("POST", "/tokens", wanted);
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

async function audit(params) {
  const actor = (params.get("actor") || "").trim();
  const resource = (params.get("resource") || "").trim();
  const list = await api("GET", "/audit?limit=1000");
  const items = list.items.filter((r) => r.actor.includes(actor) && r.resource.includes(resource));
  const form = searchForm(
    "audit",
    [
      ["actor", "Actor contains", actor],
      ["resource", "Resource contains", resource],
    ],
    "Filter",
  );
  // The API gives the newest 1,000; the page shows them 50 at a time.
  const per = 50;
  const pages = Math.max(1, Math.ceil(items.length / per));
  const page = Math.min(Math.max(1, Number(params.get("page")) || 1), pages);
  const at = (n) => `#/audit?actor=${encodeURIComponent(actor)}&resource=${encodeURIComponent(resource)}&page=${n}`;
  show(
    "Audit log",
    form,
    table(
      ["When", "Actor", "Action", "Resource"],
      items.slice((page - 1) * per, page * per).map((x) => [when(x.at_ms), x.actor, x.action, x.resource]),
      "No record matches.",
    ),
    h(
      "nav",
      { class: "pager", "aria-label": "Audit pages" },
      page > 1 ? h("a", { href: at(page - 1) }, "Newer") : null,
      h("span", {}, `Page ${page} of ${pages} (${items.length} records)`),
      page < pages ? h("a", { href: at(page + 1) }, "Older") : null,
    ),
  );
}

/** The domain form: create (no `name`) or edit (every setting the form
 *  does not show is kept, and the write applies only to the version read). */
