//! `cirrusctl`: one subcommand per API endpoint, `--output table|json`,
//! one-line errors and exit codes scripts can rely on.

mod args;
mod domain;
mod error;
mod events;
mod import;
mod output;
mod webhook;

use args::{CertCmd, Cli, Command, NodeCmd, NodePut, PurgeArgs, TokenCmd};
use cirrus_client::Client;
use cirrus_core::Node;
use cirrus_core::model::{CertificateUpload, PurgeSelection, Scope, TokenRequest};
use clap::{CommandFactory, Parser};
use error::{CtlError, FlagNames};
use output::Printer;
use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

/// The command line of `cirrusctl` (for tests that parse documented lines).
#[cfg(test)]
pub(crate) fn command() -> clap::Command {
    Cli::command()
}

/// Success.
pub const EXIT_OK: i32 = 0;
/// Any other failure (unreadable file, unexpected answer).
pub const EXIT_FAILURE: i32 = 1;
/// Bad command line (unknown flag, missing argument).
pub const EXIT_USAGE: i32 = 2;
/// Not authenticated (401) or not allowed (403).
pub const EXIT_AUTH: i32 = 3;
/// The domain, node or token does not exist (404).
pub const EXIT_NOT_FOUND: i32 = 4;
/// The API refused the input (400, 413, 415, 422).
pub const EXIT_INVALID: i32 = 5;
/// Rate limited (429) or conflicting (409, 412), after retries.
pub const EXIT_BUSY: i32 = 6;
/// The API or its store is unreachable (5xx, connection failed).
pub const EXIT_UNAVAILABLE: i32 = 7;
/// `domain status`: the domain is not ready (yet).
pub const EXIT_NOT_READY: i32 = 8;

const EXIT_CODES_HELP: &str = "Exit codes: 0 ok, 1 other failure, 2 usage, 3 unauthorized/forbidden, \
4 not found, 5 invalid input, 6 rate limited/conflict/precondition failed, 7 unavailable, 8 not ready (domain status).";

/// Runs `cirrusctl` with `args` (program name first); returns the exit code.
pub fn main_with_args<I, T>(args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { EXIT_USAGE } else { EXIT_OK };
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_FAILURE;
        }
    };
    let flags = flag_names(&cli.command);
    let token_given = cli.token.as_deref().is_some_and(|t| !t.is_empty());
    let json = cli.output == args::Output::Json;
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            if json {
                eprintln!("{}", e.json(flags, token_given));
            } else {
                eprintln!("error: {}", e.line(flags, token_given));
            }
            e.exit_code()
        }
    }
}

/// The flags of `command` that set each API field, so an invalid field
/// is reported by the flag the user typed.
fn flag_names(command: &Command) -> FlagNames {
    match command {
        Command::Purge(_) => &[
            ("urls", "--path"),
            ("prefixes", "--prefix"),
            ("tags", "--tag"),
            ("all", "--all"),
        ],
        Command::Domain(_) => &[
            ("domain", "DOMAIN"),
            ("origins", "--origin"),
            ("cache.default_ttl", "--default-ttl"),
            ("cache.stale_while_revalidate", "--stale-while-revalidate"),
            ("cache.stale_if_error", "--stale-if-error"),
        ],
        Command::Node(_) => &[
            ("id", "ID"),
            ("ipv4", "--ipv4"),
            ("ipv6", "--ipv6"),
            ("weight", "--weight"),
        ],
        Command::Token(_) => &[
            ("name", "--name"),
            ("scopes", "--scope"),
            ("domains", "--domain"),
            ("expires_at", "--expires-at"),
        ],
        Command::Cert(_) => &[("fullchain", "--cert"), ("key", "--key")],
        Command::Events(_) => &[("after", "--after"), ("type", "--type"), ("limit", "--limit")],
        Command::Webhook(_) => &[
            ("url", "--endpoint"),
            ("types", "--type"),
            ("domains", "--domain"),
            ("description", "--description"),
            ("overlap_secs", "--overlap"),
            ("limit", "--limit"),
        ],
        _ => &[],
    }
}

async fn run(cli: Cli) -> Result<i32, CtlError> {
    if let Command::Completions { shell } = cli.command {
        clap_complete::generate(shell, &mut Cli::command(), "cirrusctl", &mut std::io::stdout());
        return Ok(EXIT_OK);
    }
    let mut builder = Client::builder(&cli.url).timeout(Duration::from_secs(cli.timeout));
    // An empty CIRRUS_TOKEN is no token (a 401 then says so).
    if let Some(t) = cli.token.as_deref().filter(|t| !t.is_empty()) {
        builder = builder.token(t);
    }
    let api = builder.build().map_err(|e| CtlError::Input(e.to_string()))?;
    let out = Printer::new(cli.output);
    match cli.command {
        Command::Domain(cmd) => return domain::run(&api, &out, cmd).await,
        Command::Purge(args) => purge(&api, &out, args).await?,
        Command::Purges { pending, domain, limit } => {
            out.purges(&api.list_purges(Some(limit), pending, domain.as_deref()).await?.items)
        }
        Command::Cert(cmd) => cert(&api, &out, cmd).await?,
        Command::Node(cmd) => node(&api, &out, cmd).await?,
        Command::Token(cmd) => token(&api, &out, cmd).await?,
        Command::Webhook(cmd) => webhook::run(&api, &out, cmd).await?,
        Command::Audit { limit } => out.audit(&api.audit(Some(limit)).await?),
        Command::Events(args) => return events::run(&api, &out, args).await,
        Command::Whoami => out.identity(&api.me().await?),
        Command::Health => {
            let health = api.health().await?;
            out.health(&health);
            if health.status != "ok" {
                return Ok(EXIT_UNAVAILABLE);
            }
        }
        Command::Completions { .. } => {}
    }
    Ok(EXIT_OK)
}

async fn purge(api: &Client, out: &Printer, args: PurgeArgs) -> Result<(), CtlError> {
    let sel = PurgeSelection {
        urls: args.urls,
        prefixes: args.prefixes,
        tags: args.tags,
        all: args.all,
        soft: args.soft,
    };
    let accepted = api.purge(&args.domain, &sel).await?;
    if !args.wait {
        out.purge(&accepted);
        return Ok(());
    }
    let deadline = tokio::time::Instant::now() + args.wait_timeout;
    // The delays printed are the edges' own; polling backs off to stay
    // well inside the API's rate limit.
    let mut pause = std::time::Duration::from_millis(10);
    loop {
        let status = api.purge_status(&accepted.id).await?;
        if status.complete || tokio::time::Instant::now() >= deadline {
            out.purge_status(&status);
            if !status.complete {
                let pending = status.pending.join(", ");
                return Err(CtlError::Failed(format!(
                    "purge {}: not applied by {pending} within {:?}",
                    status.id, args.wait_timeout
                )));
            }
            return Ok(());
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(std::time::Duration::from_millis(200));
    }
}

async fn cert(api: &Client, out: &Printer, cmd: CertCmd) -> Result<(), CtlError> {
    let status = match cmd {
        CertCmd::Issue { domain } => api.issue_certificate(&domain).await?,
        CertCmd::Status { domain } => api.certificate_status(&domain).await?,
        CertCmd::List {
            expiring_within_days,
            limit,
        } => {
            let list = api.list_certificates(expiring_within_days, Some(limit)).await?;
            out.certificates(&list.items);
            return Ok(());
        }
        CertCmd::Upload { domain, cert, key } => {
            let upload = CertificateUpload {
                fullchain: read_text(&cert)?,
                key: read_text(&key)?,
            };
            api.upload_certificate(&domain, &upload).await?
        }
    };
    out.certificate(&status);
    Ok(())
}

async fn node(api: &Client, out: &Printer, cmd: NodeCmd) -> Result<(), CtlError> {
    match cmd {
        NodeCmd::List => out.nodes(&api.nodes().await?.items),
        NodeCmd::Get { id } => out.node(&api.get_node(&id).await?, None),
        NodeCmd::Put(args) => {
            let node = node_of(args)?;
            let written = api.put_node(&node).await?;
            out.node(&written.item, Some(written.created));
        }
        NodeCmd::Delete { id } => {
            api.delete_node(&id).await?;
            out.done(&format!("deleted node {id}"));
        }
        NodeCmd::Enable { id } => out.node(&api.enable_node(&id).await?, None),
        NodeCmd::Disable { id } => out.node(&api.disable_node(&id).await?, None),
    }
    Ok(())
}

fn node_of(args: NodePut) -> Result<Node, CtlError> {
    if let Some(file) = &args.file {
        return read_json_named(file, "id", &args.id);
    }
    let mut node = Node::new(args.id).with_weight(args.weight);
    node.ipv4 = args.ipv4;
    node.ipv6 = args.ipv6;
    Ok(node)
}

async fn token(api: &Client, out: &Printer, cmd: TokenCmd) -> Result<(), CtlError> {
    match cmd {
        TokenCmd::Create {
            name,
            scopes,
            domains,
            expires_at,
        } => {
            let scopes = scopes
                .iter()
                .map(|s| {
                    s.parse::<Scope>()
                        .map_err(|e| CtlError::Input(format!("--scope {s}: {e}")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let req = TokenRequest {
                name,
                scopes,
                domains: (!domains.is_empty()).then_some(domains),
                expires_at,
            };
            out.created_token(&api.create_token(&req).await?);
        }
        TokenCmd::List => out.tokens(&api.tokens().await?.items),
        TokenCmd::Revoke { id } => {
            api.revoke_token(&id).await?;
            out.done(&format!("revoked token {id}"));
        }
    }
    Ok(())
}

pub(super) fn read_text(path: &Path) -> Result<String, CtlError> {
    if path == Path::new("-") {
        return std::io::read_to_string(std::io::stdin()).map_err(|source| CtlError::File {
            what: "stdin".into(),
            source,
        });
    }
    std::fs::read_to_string(path).map_err(|source| CtlError::File {
        what: path.display().to_string(),
        source,
    })
}

/// An object from a JSON file whose `key` defaults to `name` (the domain or
/// node named on the command line).
fn read_json_named<T: serde::de::DeserializeOwned>(path: &Path, key: &str, name: &str) -> Result<T, CtlError> {
    let mut value: serde_json::Value = read_json(path)?;
    if let Some(obj) = value.as_object_mut() {
        obj.entry(key).or_insert_with(|| name.into());
    }
    serde_json::from_value(value).map_err(|e| CtlError::Input(format!("{}: {e}", path.display())))
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, CtlError> {
    serde_json::from_str(&read_text(path)?).map_err(|e| CtlError::Input(format!("{}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn statuses_map_to_documented_exit_codes() {
        let api = |status| {
            CtlError::Client(cirrus_client::Error::Api {
                status,
                code: String::new(),
                message: String::new(),
                details: vec![],
                request_id: None,
            })
        };
        let codes: Vec<i32> = [401, 403, 404, 400, 413, 422, 429, 409, 412, 500, 503]
            .into_iter()
            .map(|s| api(s).exit_code())
            .collect();
        assert_eq!(codes, [3, 3, 4, 5, 5, 5, 6, 6, 6, 7, 7]);
    }

    #[tokio::test]
    #[allow(clippy::unwrap_used)]
    async fn an_api_nobody_answers_is_unreachable() {
        // A port nothing listens on: connection refused.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let client = Client::builder(format!("http://127.0.0.1:{port}"))
            .retry(cirrus_client::RetryPolicy::none())
            .build()
            .unwrap();
        let e = client.me().await.unwrap_err();
        assert_eq!(e.transport_kind(), Some(cirrus_client::TransportKind::Connect), "{e}");
        assert!(std::error::Error::source(&e).is_some(), "the cause is kept");
        assert_eq!(CtlError::Client(e).exit_code(), EXIT_UNAVAILABLE);
    }
}
