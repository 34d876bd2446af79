// The portal's last script: logging in, the overview, and the routes to
// every screen (defined by the scripts before it).
"use strict";

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
          localStorage.setItem(CSRF, r.csrf_token);
          // A new hash routes by itself; the same one needs asking.
          if (location.hash === "#/") await route();
          else location.hash = "#/";
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

/** The overview's cards, drawn again (live) when domains, nodes,
 *  certificates or purges change. */
async function overview() {
  const draw = async () => {
    const [domains, nodes, ending, pending] = await Promise.all([
      countDomains(),
      api("GET", "/nodes"),
      api("GET", "/certificates?expiring_within_days=14&limit=1000"),
      api("GET", "/purges?pending=true&limit=1000"),
    ]);
    const up = nodes.items.filter((n) => n.enabled && n.active).length;
    const count = (list) => (list.items.length >= 1000 ? "1000+" : list.items.length);
    const card = (n, what, href) =>
      h("div", { class: "card" }, h("div", { class: "n" }, n), h("a", { class: "what", href }, what));
    return h(
      "div",
      { class: "cards" },
      card(domains, domains === 1 ? "domain" : "domains", "#/domains"),
      card(`${up} / ${nodes.items.length}`, "edge nodes serving", "#/nodes"),
      card(count(ending), "certificates ending within 14 days", "#/certificates?days=14"),
      card(count(pending), "purges pending", "#/purges?pending=1"),
    );
  };
  let cards = await draw();
  show("Overview", cards);
  const types = ["domain.created", "domain.deleted", "node.up", "node.down", "node.enabled", "node.disabled",
    "certificate.issued", "certificate.renewed", "purge.requested", "purge.completed", "purge.incomplete"];
  live(types, coalesced(async () => {
    try {
      const fresh = await draw();
      cards.replaceWith(fresh);
      cards = fresh;
    } catch {
      // The next event draws again.
    }
  }));
}

/** Every domain's name, counted a page of 1,000 at a time. */

// --- routing ---

const screens = { "": overview, domains, domain: domainPage, edit: domainForm, purge, purges, certificates, nodes, tokens, audit };

async function route() {
  stopLive();
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
  } catch (e) {
    // Logged out already, or the API is gone: the login page says the
    // rest. Any other refusal leaves the session open: say so.
    if (e.status !== 401 && e.status !== 0) {
      return show("Still logged in", problem(e), h("p", {}, h("a", { href: "#/login" }, "Log in again")));
    }
  }
  localStorage.removeItem(CSRF);
  location.hash = "#/login";
});

window.addEventListener("hashchange", route);
route();
