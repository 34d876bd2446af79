//! The command line of `cirrusctl`.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Operate a Cirrus CDN through its control-plane API.
#[derive(Debug, Parser)]
#[command(name = "cirrusctl", version, about = "Operate a Cirrus CDN through its control-plane API.", after_help = super::EXIT_CODES_HELP)]
pub(crate) struct Cli {
    /// Base URL of the API (absolute: `http://…` or `https://…`).
    #[arg(long, env = "CIRRUS_URL", default_value = "http://127.0.0.1:8000", global = true, value_parser = api_url)]
    pub(crate) url: String,
    /// Bearer token (master or service token).
    #[arg(long, env = "CIRRUS_TOKEN", hide_env_values = true, global = true)]
    pub(crate) token: Option<String>,
    /// Output format.
    #[arg(
        long,
        short,
        env = "CIRRUS_OUTPUT",
        value_enum,
        default_value = "table",
        global = true
    )]
    pub(crate) output: Output,
    /// Seconds to wait for each attempt.
    #[arg(long, default_value_t = 30, global = true)]
    pub(crate) timeout: u64,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Output {
    /// Aligned columns for people.
    Table,
    /// The API's JSON, for scripts.
    Json,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Customer domains.
    #[command(subcommand)]
    Domain(DomainCmd),
    /// Purge cached objects of a domain on every edge.
    Purge(PurgeArgs),
    /// The purges of the last day, newest first, and where each stands.
    Purges {
        /// Only those some reporting edge has not applied yet.
        #[arg(long)]
        pending: bool,
        /// Only this domain's.
        #[arg(long)]
        domain: Option<String>,
        /// How many (1-1000).
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// TLS certificates.
    #[command(subcommand)]
    Cert(CertCmd),
    /// Edge nodes.
    #[command(subcommand)]
    Node(NodeCmd),
    /// Service tokens (master token only).
    #[command(subcommand)]
    Token(TokenCmd),
    /// Webhook endpoints: what the worker posts events to.
    #[command(subcommand)]
    Webhook(super::webhook::WebhookCmd),
    /// The newest audit records.
    Audit {
        /// How many (1-1000).
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// The event stream: what happened, oldest first (`--follow`: from now
    /// on, as it happens).
    Events(EventArgs),
    /// Who the token belongs to.
    Whoami,
    /// The API's health (exit code 7 when the store is unreachable).
    Health,
    /// Print a shell completion script.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Args)]
pub(crate) struct EventArgs {
    /// Only these types (repeatable), e.g. `domain.created`.
    #[arg(long = "type", value_parser = event_type)]
    pub(crate) types: Vec<cirrus_core::model::EventType>,
    /// Only events about this subject (a domain, node id, token id or purge id).
    #[arg(long)]
    pub(crate) subject: Option<String>,
    /// Events after this id (an event's `id`); from the oldest kept when
    /// absent, or from now on with `--follow`.
    #[arg(long)]
    pub(crate) after: Option<String>,
    /// How many (1-1000) without `--follow`.
    #[arg(long, default_value_t = 100)]
    pub(crate) limit: usize,
    /// Keep printing events as they are written (asks every second) until
    /// interrupted; with `-o json`, one JSON object per line.
    #[arg(long, short)]
    pub(crate) follow: bool,
}

fn event_type(s: &str) -> Result<cirrus_core::model::EventType, String> {
    s.parse()
}

#[derive(Debug, Subcommand)]
pub(crate) enum DomainCmd {
    /// List domains.
    List,
    /// Show one domain, with the CNAMEs its owner sets.
    Get {
        /// Domain name.
        domain: String,
    },
    /// Whether a domain is ready: its CNAMEs in place (as the API's
    /// resolver sees them) and its certificate. Exits 8 while not ready.
    Status {
        /// Domain name.
        domain: String,
        /// Ask again until the domain is ready (or --wait-timeout passes).
        #[arg(long)]
        wait: bool,
        /// How long --wait waits.
        #[arg(long, default_value = "5m", value_parser = crate::duration::parse_duration, requires = "wait")]
        wait_timeout: std::time::Duration,
    },
    /// Create a domain from flags (`--replace` to overwrite an existing
    /// one whole), or create or replace it from a JSON file.
    Put(DomainPut),
    /// Change some settings of an existing domain, keeping the others
    /// (read, change, write back only if nobody changed it meanwhile).
    Set(DomainSet),
    /// Change some fields (JSON merge patch from a file, `-` for stdin).
    Patch {
        /// Domain name.
        domain: String,
        /// The patch.
        #[arg(long, short = 'f')]
        file: PathBuf,
    },
    /// Delete a domain.
    Delete {
        /// Domain name.
        domain: String,
    },
    /// Create or replace many domains from a file (`-` for stdin): a JSON
    /// array of domains (what `-o json domain list` prints) or one domain
    /// per line. Sent in batches; every refused domain is listed, and the
    /// exit code is 5 when any was.
    Import {
        /// The file of domains.
        file: PathBuf,
        /// Domains per request (1-1000).
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u16).range(1..=1000))]
        batch: u16,
    },
}

#[derive(Debug, Args)]
pub(crate) struct DomainPut {
    /// Domain name.
    pub(crate) domain: String,
    /// Origin, e.g. `https://203.0.113.7` (repeat for several).
    #[arg(long = "origin", required_unless_present = "file", conflicts_with = "file")]
    pub(crate) origins: Vec<String>,
    /// Backup origin, used only when the others fail (repeatable).
    #[arg(long = "backup-origin", conflicts_with = "file")]
    pub(crate) backups: Vec<String>,
    /// Keep the domain but do not serve it.
    #[arg(long, conflicts_with = "file")]
    pub(crate) disabled: bool,
    /// Shielding: `off`, `cluster`, or the node ids of the shield set (`edge-1,edge-2`).
    #[arg(long, value_name = "off|cluster|NODE,…", value_parser = super::domain::shield_flag, conflicts_with = "file")]
    pub(crate) shield: Option<cirrus_core::model::ShieldPolicy>,
    /// Cache settings (the others keep their defaults).
    #[command(flatten)]
    pub(crate) cache: CacheFlags,
    /// Overwrite the domain if it exists, dropping every setting the flags
    /// do not give (without it, an existing domain is left as it is).
    #[arg(long, conflicts_with = "file")]
    pub(crate) replace: bool,
    /// Full configuration as JSON (`-` for stdin); replaces an existing domain.
    #[arg(long, short = 'f')]
    pub(crate) file: Option<PathBuf>,
}

/// A number of seconds, or `off` (`None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SecondsOrOff(pub(crate) Option<u64>);

/// `DURATION` (`90s`, `1h`, `7d`, seconds) or `off`.
pub(crate) fn seconds_or_off(s: &str) -> Result<SecondsOrOff, String> {
    if s.eq_ignore_ascii_case("off") {
        return Ok(SecondsOrOff(None));
    }
    crate::duration::parse_duration(s).map(|d| SecondsOrOff(Some(d.as_secs())))
}

/// `on` or `off`.
pub(crate) fn on_off(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "on" | "true" => Ok(true),
        "off" | "false" => Ok(false),
        _ => Err(format!("{s:?}: expected on or off")),
    }
}

/// Cache settings `domain put` and `domain set` take as flags.
#[derive(Debug, Args)]
pub(crate) struct CacheFlags {
    /// Freshness for responses without their own (`1h`, `90s`, or `off`).
    #[arg(long, value_name = "DURATION|off", value_parser = seconds_or_off)]
    pub(crate) default_ttl: Option<SecondsOrOff>,
    /// How long a stale response may be served while it is refreshed (or `off`).
    #[arg(long, value_name = "DURATION|off", value_parser = seconds_or_off)]
    pub(crate) stale_while_revalidate: Option<SecondsOrOff>,
    /// How long a stale response may be served when the origin fails (or `off`).
    #[arg(long, value_name = "DURATION|off", value_parser = seconds_or_off)]
    pub(crate) stale_if_error: Option<SecondsOrOff>,
    /// gzip/brotli compression of text answers.
    #[arg(long, value_name = "on|off", value_parser = on_off)]
    pub(crate) compress: Option<bool>,
    /// The cache as a whole.
    #[arg(long, value_name = "on|off", value_parser = on_off)]
    pub(crate) cache: Option<bool>,
}

impl CacheFlags {
    /// Sets the settings given on `conf`, leaving the others.
    pub(crate) fn apply(&self, conf: &mut cirrus_core::DomainConf) {
        let cache = &mut conf.cache;
        if let Some(ttl) = self.default_ttl {
            cache.default_ttl = ttl.0;
        }
        if let Some(swr) = self.stale_while_revalidate {
            cache.stale_while_revalidate = swr.0;
        }
        if let Some(sie) = self.stale_if_error {
            cache.stale_if_error = sie.0;
        }
        if let Some(on) = self.compress {
            cache.compress = on;
        }
        if let Some(on) = self.cache {
            cache.enabled = on;
        }
    }
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("change").required(true).multiple(true).args([
    "origins", "backups", "default_ttl", "stale_while_revalidate", "stale_if_error", "compress", "cache", "enabled", "shield",
]))]
pub(crate) struct DomainSet {
    /// Domain name.
    pub(crate) domain: String,
    /// Origins, replacing the domain's (backups are kept unless --backup-origin is given).
    #[arg(long = "origin")]
    pub(crate) origins: Vec<String>,
    /// Backup origins, replacing the domain's.
    #[arg(long = "backup-origin")]
    pub(crate) backups: Vec<String>,
    /// Cache settings to change.
    #[command(flatten)]
    pub(crate) cache: CacheFlags,
    /// Serve the domain (`off` keeps it without serving it).
    #[arg(long, value_name = "on|off", value_parser = on_off)]
    pub(crate) enabled: Option<bool>,
    /// Shielding: `off`, `cluster`, or the node ids of the shield set (`edge-1,edge-2`).
    #[arg(long, value_name = "off|cluster|NODE,…", value_parser = super::domain::shield_flag)]
    pub(crate) shield: Option<cirrus_core::model::ShieldPolicy>,
}

#[derive(Debug, Args)]
pub(crate) struct PurgeArgs {
    /// Domain name.
    pub(crate) domain: String,
    /// Exact path, query string included (repeatable).
    #[arg(long = "path")]
    pub(crate) urls: Vec<String>,
    /// Path prefix (repeatable).
    #[arg(long = "prefix")]
    pub(crate) prefixes: Vec<String>,
    /// Surrogate key (repeatable).
    #[arg(long = "tag")]
    pub(crate) tags: Vec<String>,
    /// Everything cached for the domain.
    #[arg(long)]
    pub(crate) all: bool,
    /// Mark stale instead of dropping: the next request revalidates, and
    /// stale may be served meanwhile where the response allows it.
    #[arg(long)]
    pub(crate) soft: bool,
    /// Wait until every reporting edge applied it, and print each one's
    /// delay; fails when some have not within --wait-timeout.
    #[arg(long)]
    pub(crate) wait: bool,
    /// How long --wait waits (`30s`, `500ms`, `2m`).
    #[arg(long, default_value = "30s", value_parser = crate::duration::parse_duration, requires = "wait")]
    pub(crate) wait_timeout: std::time::Duration,
}

#[derive(Debug, Subcommand)]
pub(crate) enum CertCmd {
    /// Request a certificate (ACME); prints the job.
    Issue {
        /// Domain name.
        domain: String,
    },
    /// Where a domain's certificate stands.
    Status {
        /// Domain name.
        domain: String,
    },
    /// The stored certificates, soonest end first.
    List {
        /// Only those ending within this many days (expired ones included).
        #[arg(long, value_name = "DAYS")]
        expiring_within_days: Option<u64>,
        /// How many (1-1000).
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Upload a certificate chain and key (PEM files).
    Upload {
        /// Domain name.
        domain: String,
        /// Leaf first, then intermediates.
        #[arg(long)]
        cert: PathBuf,
        /// The leaf's private key.
        #[arg(long)]
        key: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum NodeCmd {
    /// List nodes with their health.
    List,
    /// Show one node.
    Get {
        /// Node id.
        id: String,
    },
    /// Create or replace a node, from flags or a JSON file.
    Put(NodePut),
    /// Delete a node.
    Delete {
        /// Node id.
        id: String,
    },
    /// Put a node back into service.
    Enable {
        /// Node id.
        id: String,
    },
    /// Quarantine a node (no traffic, settings kept).
    Disable {
        /// Node id.
        id: String,
    },
}

#[derive(Debug, Args)]
pub(crate) struct NodePut {
    /// Node id.
    pub(crate) id: String,
    /// IPv4 address published in A records.
    #[arg(long, conflicts_with = "file")]
    pub(crate) ipv4: Option<std::net::Ipv4Addr>,
    /// IPv6 address published in AAAA records.
    #[arg(long, conflicts_with = "file")]
    pub(crate) ipv6: Option<std::net::Ipv6Addr>,
    /// Relative share of domains (1-1000).
    #[arg(long, default_value_t = 1, conflicts_with = "file")]
    pub(crate) weight: u32,
    /// Full node as JSON (`-` for stdin).
    #[arg(long, short = 'f')]
    pub(crate) file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum TokenCmd {
    /// Create a service token; its secret is printed once.
    Create {
        /// Human name, e.g. `ci-deploy`.
        #[arg(long)]
        name: String,
        /// Scope: read, domains:write, purge, certs, nodes, webhooks (repeatable).
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
        /// Domain the token may touch (repeatable; none: all).
        #[arg(long = "domain")]
        domains: Vec<String>,
        /// When the token stops working: an RFC 3339 time
        /// (`2027-03-01T00:00:00Z`), a duration from now (`90d`), or Unix seconds.
        #[arg(long, value_name = "TIME|DURATION", value_parser = crate::duration::parse_instant)]
        expires_at: Option<u64>,
    },
    /// List tokens (never their secrets).
    List,
    /// Revoke a token at once.
    Revoke {
        /// Token id.
        id: String,
    },
}

/// Accepts an absolute `http://` or `https://` URL with a host.
fn api_url(s: &str) -> Result<String, String> {
    let rest = s.strip_prefix("http://").or_else(|| s.strip_prefix("https://"));
    let host = rest.map(|r| r.split(['/', '?', '#']).next().unwrap_or_default());
    match host {
        Some(h) if !h.is_empty() && !h.starts_with(':') => Ok(s.trim_end_matches('/').to_string()),
        _ => Err(format!(
            "{s:?} is not the API's address: give an absolute http(s) URL such as --url http://127.0.0.1:8000 \
             (or set CIRRUS_URL)"
        )),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::api_url;

    #[test]
    fn api_urls_must_be_absolute_http() {
        assert_eq!(
            api_url("http://127.0.0.1:8000/").as_deref(),
            Ok("http://127.0.0.1:8000")
        );
        assert!(api_url("https://api.example.net/base").is_ok());
        for bad in ["/x", "127.0.0.1:8000", "ftp://h", "http://", "https:///x", "http://:80"] {
            let e = api_url(bad).unwrap_err();
            assert!(e.contains("absolute http(s) URL"), "{bad}: {e}");
        }
    }
}
