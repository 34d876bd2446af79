//! `cirrusctl webhook`: register, list, change, rotate and delete webhook
//! endpoints, read their delivery log and dead letters, replay an attempt.

use super::error::CtlError;
use super::output::{Printer, table};
use crate::duration::{parse_duration, rfc3339, rfc3339_ms};
use cirrus_client::Client;
use cirrus_core::model::{Delivery, EventType, Webhook, WebhookSpec};
use clap::{Args, Subcommand};
use std::time::Duration;

#[derive(Debug, Subcommand)]
pub(crate) enum WebhookCmd {
    /// Register an endpoint; its signing secret is printed once.
    Create(HookArgs),
    /// The endpoints this token may manage.
    List,
    /// One endpoint.
    Get {
        /// Webhook id (`wh_…`).
        id: String,
    },
    /// Change an endpoint: the flags given replace those settings.
    Update {
        /// Webhook id.
        id: String,
        #[command(flatten)]
        hook: HookArgs,
        /// Deliver to it again (clears why it was disabled).
        #[arg(long, conflicts_with = "disabled")]
        enable: bool,
    },
    /// Delete an endpoint and its logs.
    Delete {
        /// Webhook id.
        id: String,
    },
    /// A new signing secret, printed once; the old one keeps signing for --overlap.
    RotateSecret {
        /// Webhook id.
        id: String,
        /// How long the previous secret also signs (`1h`; default a day, at most 7d).
        #[arg(long, value_parser = parse_duration)]
        overlap: Option<Duration>,
    },
    /// The newest attempts, newest first.
    Deliveries {
        /// Webhook id.
        id: String,
        /// Only the events given up on (the dead letters).
        #[arg(long)]
        dead: bool,
        /// How many (1-1000).
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Post one attempt's event again (from the log or the dead letters).
    Replay {
        /// Webhook id.
        id: String,
        /// Delivery id (`dlv_…`), as `deliveries` shows it.
        delivery: String,
    },
}

/// An endpoint's settings as flags.
#[derive(Debug, Args)]
pub(crate) struct HookArgs {
    /// Where to post: an http(s) URL (required to create; `--url` is the API's).
    #[arg(long, value_name = "URL")]
    endpoint: Option<String>,
    /// Only this event type (repeatable; none: every type).
    #[arg(long = "type", value_parser = |s: &str| s.parse::<EventType>())]
    types: Vec<EventType>,
    /// Only events about this domain (repeatable; none: every event).
    #[arg(long = "domain")]
    domains: Vec<String>,
    /// Free text for people.
    #[arg(long)]
    description: Option<String>,
    /// Registered but not delivered to.
    #[arg(long)]
    disabled: bool,
}

impl HookArgs {
    /// `base` with the settings these flags give.
    fn apply(self, mut base: WebhookSpec) -> WebhookSpec {
        if let Some(url) = self.endpoint {
            base.url = url;
        }
        if !self.types.is_empty() {
            base.types = self.types;
        }
        if !self.domains.is_empty() {
            base.domains = self.domains;
        }
        if let Some(d) = self.description {
            base.description = d;
        }
        if self.disabled {
            base.enabled = false;
        }
        base
    }
}

pub(super) async fn run(api: &Client, out: &Printer, cmd: WebhookCmd) -> Result<(), CtlError> {
    match cmd {
        WebhookCmd::Create(args) => {
            let url = args
                .endpoint
                .clone()
                .ok_or_else(|| CtlError::Input("--endpoint: where to post is required".into()))?;
            let created = api.create_webhook(&args.apply(WebhookSpec::new(url))).await?;
            if out.json(&created) {
                println!(
                    "webhook {} created; its signing secret is shown once:",
                    created.webhook.id
                );
                println!("{}", created.secret);
            }
        }
        WebhookCmd::List => {
            let items = api.webhooks().await?.items;
            if out.json(&items) {
                hooks(&items);
            }
        }
        WebhookCmd::Get { id } => {
            let hook = api.get_webhook(&id).await?;
            if out.json(&hook) {
                hooks(std::slice::from_ref(&hook));
            }
        }
        WebhookCmd::Update { id, hook, enable } => {
            let current = api.get_webhook(&id).await?;
            let base = WebhookSpec {
                url: current.url,
                types: current.types,
                domains: current.domains,
                description: current.description,
                enabled: current.enabled || enable,
            };
            let changed = api.replace_webhook(&id, &hook.apply(base)).await?;
            if out.json(&changed) {
                hooks(std::slice::from_ref(&changed));
            }
        }
        WebhookCmd::Delete { id } => {
            api.delete_webhook(&id).await?;
            out.done(&format!("deleted webhook {id}"));
        }
        WebhookCmd::RotateSecret { id, overlap } => {
            let rotated = api.rotate_webhook_secret(&id, overlap).await?;
            if out.json(&rotated) {
                println!(
                    "new signing secret for {id} (shown once; the previous one signs until {}):",
                    rfc3339(rotated.previous_until)
                );
                println!("{}", rotated.secret);
            }
        }
        WebhookCmd::Deliveries { id, dead, limit } => {
            let list = if dead {
                api.webhook_dead_letters(&id, Some(limit)).await?
            } else {
                api.webhook_deliveries(&id, Some(limit)).await?
            };
            if out.json(&list) {
                deliveries(&list.items);
            }
        }
        WebhookCmd::Replay { id, delivery } => {
            let queued = api.replay_webhook_delivery(&id, &delivery).await?;
            if out.json(&queued) {
                println!(
                    "event {} queued for {id} again (delivery {})",
                    queued.event.id, queued.id
                );
            }
        }
    }
    Ok(())
}

fn hooks(items: &[Webhook]) {
    let list = |v: Vec<String>| if v.is_empty() { "*".to_string() } else { v.join(",") };
    table(
        &["ID", "URL", "TYPES", "DOMAINS", "ENABLED", "DESCRIPTION"],
        items.iter().map(|h| {
            let enabled = match (&h.disabled_reason, h.enabled) {
                (_, true) => "yes".to_string(),
                (Some(why), false) => format!("no ({why})"),
                (None, false) => "no".to_string(),
            };
            vec![
                h.id.clone(),
                h.url.clone(),
                list(h.types.iter().map(|t| t.to_string()).collect()),
                list(h.domains.clone()),
                enabled,
                h.description.clone(),
            ]
        }),
    );
}

fn deliveries(items: &[Delivery]) {
    table(
        &[
            "AT", "ID", "EVENT", "TYPE", "ATTEMPT", "OUTCOME", "STATUS", "MS", "ERROR",
        ],
        items.iter().map(|d| {
            let outcome = format!("{}{}", d.outcome.as_str(), if d.replay { " (replay)" } else { "" });
            vec![
                rfc3339_ms(d.at),
                d.id.clone(),
                d.event.id.clone(),
                d.event.kind.to_string(),
                d.attempt.to_string(),
                outcome,
                d.status.map(|s| s.to_string()).unwrap_or_default(),
                d.duration_ms.to_string(),
                d.error.clone().unwrap_or_default(),
            ]
        }),
    );
}
