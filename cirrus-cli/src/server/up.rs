//! `cirrus up`: the API, the edge, the DNS and its health checker, and the
//! worker (certificates, webhooks) in one process over one store, and what to do next
//! printed on stdout.

use super::{BoxError, api, dns, edge, shutdown_on_signal, worker};
use clap::{Args, FromArgMatches};
use std::ffi::OsString;

/// Flags of `cirrus up`. Every role setting has the role's flag name in
/// the configuration file (`[edge] listen = …`) or `--set edge.listen=…`.
#[derive(Debug, Args)]
pub(crate) struct UpArgs {
    /// The store shared by every role: a directory for the embedded store
    /// (created on first start; also `file:PATH`, `embedded:PATH`, with
    /// settings such as `?cache=8MiB&purge_records=1000`), or
    /// `redis://…` / `rediss://…` / `redis+sentinel://…`; any other `scheme://` is refused.
    #[arg(long, env = "CIRRUS_STORE", default_value = "./cirrus-data", value_parser = super::store_location)]
    store: String,
    /// The zone under which each domain gets its CNAME target.
    #[arg(long, env = "CNAME_BASE_DOMAIN", default_value = "cdn.localhost")]
    zone: String,
    /// A role setting, `ROLE.KEY=VALUE` (e.g. `edge.listen=127.0.0.1:9080`);
    /// repeatable. Overrides the environment and the file.
    #[arg(long = "set", value_name = "ROLE.KEY=VALUE")]
    set: Vec<String>,
    /// Replace the generated master token with a new one, printed once.
    #[arg(long)]
    rotate_master_token: bool,
}

/// The argument list of `role` as `up` runs it.
fn role_argv(role: &str, cmd: &clap::Command, args: &UpArgs) -> Result<Vec<OsString>, BoxError> {
    let mut argv: Vec<OsString> = vec![role.into(), "--store".into(), args.store.clone().into()];
    if role == "dns" || role == "api" || role == "worker" {
        argv.extend(["--zone".into(), args.zone.clone().into()]);
    }
    if role == "api" && args.rotate_master_token {
        argv.push("--rotate-master-token".into());
    }
    for set in &args.set {
        let (key, value) = set
            .split_once('=')
            .ok_or_else(|| format!("--set {set}: expected ROLE.KEY=VALUE"))?;
        let (r, id) = key
            .split_once('.')
            .ok_or_else(|| format!("--set {set}: expected ROLE.KEY=VALUE, ROLE one of api, edge, dns, worker"))?;
        if !super::ROLES.contains(&r) {
            return Err(format!("--set {set}: unknown role {r:?} (api, edge, dns, worker)").into());
        }
        if r != role {
            continue;
        }
        if matches!(id, "store" | "zone") {
            return Err(format!("--set {set}: {id} is shared by every role; use cirrus up --{id}").into());
        }
        let arg = cmd
            .get_arguments()
            .find(|a| a.get_id() == id)
            .ok_or_else(|| format!("--set {set}: `cirrus {r}` has no setting {id:?}"))?;
        let long = arg.get_long().unwrap_or(id);
        match arg.get_action() {
            clap::ArgAction::SetTrue if value == "true" => argv.push(format!("--{long}").into()),
            clap::ArgAction::SetTrue if value == "false" => {}
            clap::ArgAction::SetTrue => return Err(format!("--set {set}: expected true or false").into()),
            _ => argv.push(format!("--{long}={value}").into()),
        }
    }
    Ok(argv)
}

/// Parses one role's settings as `up` runs it.
fn role_args<T: FromArgMatches>(role: &str, file: &super::ConfigFile, args: &UpArgs) -> Result<T, BoxError> {
    let cmd = super::up_command(file, role).map_err(|e| e.join("; "))?;
    let argv = role_argv(role, &cmd, args)?;
    let matches = cmd
        .try_get_matches_from(argv)
        .map_err(|e| format!("{role}: {}", e.to_string().lines().next().unwrap_or_default()))?;
    Ok(T::from_arg_matches(&matches)?)
}

pub(crate) async fn run(args: UpArgs, file: &super::ConfigFile) -> Result<(), BoxError> {
    let api_args: api::ApiArgs = role_args("api", file, &args)?;
    let edge_args: edge::EdgeArgs = role_args("edge", file, &args)?;
    let dns_args: dns::DnsArgs = role_args("dns", file, &args)?;
    let worker_args: worker::WorkerArgs = role_args("worker", file, &args)?;
    // Data from an earlier start: the embedded store's file, or anything
    // written to Redis (every write bumps the revision).
    let location = cirrus_core::StoreLocation::parse(&args.store)?;
    let had_file = match &location {
        cirrus_core::StoreLocation::Embedded { dir, .. } => dir.join("cirrus.redb").exists(),
        _ => false,
    };
    let store = cirrus_core::open_store(&args.store)?;
    let existed = match location {
        cirrus_core::StoreLocation::Embedded { .. } => had_file,
        _ => store.revision().await.unwrap_or(0) > 0,
    };
    let domains = store.domains().await.map(|d| d.len()).unwrap_or(0);
    // No CA unless one is named: a loopback setup cannot pass validation,
    // and a production CA would only count its failures.
    let refuse = worker_args.acme_directory.is_none().then(|| NO_CA.to_string());
    let admin = api_args.admin_user().map(str::to_string);
    let mut api = api::prepare_with(api_args, store.clone(), refuse).await?;
    let edge = edge::prepare(edge_args, store.clone()).await?;
    let dns = dns::prepare(dns_args, store.clone()).await?;
    // The built-in solver's values are served by this process's DNS: the
    // worker waits until it answers them.
    // Without a CA it still delivers webhooks.
    let certificates = worker_args.acme_directory.is_some();
    let worker = worker::prepare(worker_args, store, vec![dns.dns], certificates)?;
    // Every listener is bound: show the banner, and only then keep a
    // master token generated by this start.
    let text = banner(&Banner {
        store: &args.store,
        kept: existed.then_some(domains),
        token: api.new_token(),
        api: api.local_addr()?,
        edge: &edge,
        dns: &dns,
        worker: &worker,
        admin: admin.as_deref(),
    });
    api::show(&text)?;
    api.keep_token().await?;
    let shutdown = shutdown_on_signal();
    // A role that fails stops the others.
    let stop_on_error = |r: Result<(), BoxError>| {
        if r.is_err() {
            shutdown.trigger();
        }
        r
    };
    let (a, e, d, w) = tokio::join!(
        async { stop_on_error(api.run(&shutdown).await) },
        async { stop_on_error(edge.run(&shutdown).await) },
        async { stop_on_error(dns.run(&shutdown).await) },
        async { stop_on_error(worker.run(&shutdown).await) },
    );
    a.and(e).and(d).and(w)
}

struct Banner<'a> {
    store: &'a str,
    kept: Option<usize>,
    token: Option<&'a str>,
    api: std::net::SocketAddr,
    edge: &'a edge::PreparedEdge,
    dns: &'a dns::PreparedDns,
    worker: &'a worker::PreparedWorker,
    /// The portal user configured for this start.
    admin: Option<&'a str>,
}

/// Why `cirrus up` refuses certificate requests when no CA is named.
const NO_CA: &str = "cirrus up runs without an ACME CA: set worker.acme_directory (the Let's Encrypt staging \
directory is https://acme-staging-v02.api.letsencrypt.org/directory), or upload a certificate";

/// What `up` prints: where everything listens and a first domain.
fn banner(b: &Banner<'_>) -> String {
    let mut out = String::from("Cirrus is up.\n\n");
    match b.kept {
        Some(n) => out += &format!("  data       {} (kept from the last start: {n} domains)\n", b.store),
        None => out += &format!("  data       {} (new)\n", b.store),
    }
    out += &format!("  API        http://{}/api/v1  (docs: http://{}/docs)\n", b.api, b.api);
    match b.admin {
        Some(user) => out += &format!("  portal     http://{}/  (log in as {user})\n", b.api),
        None => {
            out += &format!(
                "  portal     http://{}/  (a portal user: cirrus up --set api.admin_user=NAME --set api.admin_password=…)\n",
                b.api
            );
        }
    }
    let https = b.edge.https.map(|a| format!("  https://{a}")).unwrap_or_default();
    out += &format!("  edge       http://{}{https}\n", b.edge.http);
    out += &format!("  DNS        {} (udp, tcp), zone {}\n", b.dns.dns, b.dns.zone);
    match &b.worker.directory {
        Some(directory) => out += &format!("  certs      ACME DNS-01 from {directory}\n"),
        None => out += "  certs      uploads only: no ACME CA (set worker.acme_directory to issue)\n",
    }
    out += &format!(
        "  metrics    http://{}/metrics (edge), http://{}/metrics (dns), http://{}/metrics (worker)\n",
        b.edge.admin, b.dns.admin, b.worker.admin
    );
    let token = match b.token {
        Some(t) => {
            out += &format!("  token      {t}\n             (the master token: shown once, only its hash is kept)\n");
            t.to_string()
        }
        None => {
            out += "  token      the master token printed at the first start (a new one: cirrus up --rotate-master-token)\n";
            "<master token>".to_string()
        }
    };
    let ctl = std::env::current_exe()
        .ok()
        .map(|p| p.with_file_name("cirrusctl"))
        .filter(|p| p.exists())
        .map_or_else(
            || "cargo run -q -p cirrus-cli --bin cirrusctl --".to_string(),
            |p| p.display().to_string(),
        );
    out += &format!(
        "\nNext: put a first domain in front of an origin (here one on 127.0.0.1:9000), then ask the edge:\n\n  \
         export CIRRUS_URL=http://{api} CIRRUS_TOKEN={token}\n  \
         {ctl} domain put www.example.test --origin http://127.0.0.1:9000 --default-ttl 60s\n  \
         curl -i -H 'Host: www.example.test' http://{edge}/\n",
        api = b.api,
        edge = b.edge.http,
    );
    out
}
