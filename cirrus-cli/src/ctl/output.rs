//! Printing answers as aligned tables for people or as the API's JSON for
//! scripts.

use super::args::Output;
use crate::duration::{rfc3339, rfc3339_ms};
use cirrus_core::model::{
    AuditList, BatchOutcome, BatchResult, CertificateStatus, CreatedToken, DelegationCheck, DomainStatus, DomainView,
    EventList, Health, Identity, PurgeAccepted, PurgeStatus, ServiceToken,
};
use cirrus_core::{DomainConf, Node};
use serde::Serialize;

pub(crate) struct Printer {
    format: Output,
}

impl Printer {
    pub(crate) fn new(format: Output) -> Self {
        Self { format }
    }

    /// In JSON mode prints `value` and returns false; else returns true.
    pub(super) fn json<T: Serialize + ?Sized>(&self, value: &T) -> bool {
        if self.format == Output::Json {
            match serde_json::to_string_pretty(value) {
                Ok(text) => println!("{text}"),
                Err(e) => eprintln!("error: cannot print the answer: {e}"),
            }
            false
        } else {
            true
        }
    }

    pub(crate) fn done(&self, message: &str) {
        if self.format == Output::Table {
            println!("{message}");
        }
    }

    pub(crate) fn domains(&self, items: &[DomainConf]) {
        if self.json(items) {
            table(
                &["DOMAIN", "ENABLED", "ORIGINS", "TLS"],
                items.iter().map(|d| {
                    vec![
                        d.domain.clone(),
                        d.enabled.to_string(),
                        d.origins.iter().map(ToString::to_string).collect::<Vec<_>>().join(","),
                        format!("{:?}", d.tls.mode).to_lowercase(),
                    ]
                }),
            );
        }
    }

    /// A batch's refused items, one per line, then the counts.
    pub(crate) fn batch(&self, result: &BatchResult) {
        if self.json(result) {
            for item in result.refused() {
                let name = item.domain.as_deref().unwrap_or("?");
                let why = item.error.as_ref().map(|e| {
                    let fields: Vec<String> = e.details.iter().map(|d| format!("{}: {}", d.field, d.reason)).collect();
                    if fields.is_empty() {
                        e.message.clone()
                    } else {
                        fields.join("; ")
                    }
                });
                println!("refused {} ({name}): {}", item.index + 1, why.unwrap_or_default());
            }
            println!(
                "{} domains: {} created, {} updated, {} unchanged, {} refused (revision {})",
                result.items.len(),
                result.count(BatchOutcome::Created),
                result.count(BatchOutcome::Updated),
                result.count(BatchOutcome::Unchanged),
                result.count(BatchOutcome::Refused),
                result.revision
            );
        }
    }

    /// A page of events: a table (its header unless `follow` goes on
    /// from a page before), or JSON (one object a line when following).
    pub(crate) fn events(&self, list: &EventList, follow: bool) {
        if self.format == Output::Json && follow {
            for e in &list.items {
                match serde_json::to_string(e) {
                    Ok(line) => println!("{line}"),
                    Err(err) => eprintln!("error: cannot print an event: {err}"),
                }
            }
            return;
        }
        if !self.json(list) {
            return;
        }
        let rows = list.items.iter().map(|e| {
            vec![
                rfc3339_ms(e.at),
                e.kind.to_string(),
                e.subject.clone(),
                e.actor.clone().unwrap_or_else(|| "-".into()),
                e.id.clone(),
            ]
        });
        if follow {
            for row in rows {
                println!("{}", row.join("  "));
            }
        } else {
            table(&["AT", "TYPE", "SUBJECT", "ACTOR", "ID"], rows);
        }
    }

    pub(crate) fn domain(&self, d: &DomainView, created: Option<bool>) {
        if self.json(d) {
            if let Some(created) = created {
                println!(
                    "{} domain {}",
                    if created { "created" } else { "updated" },
                    d.conf.domain
                );
            }
            self.domains(std::slice::from_ref(&d.conf));
            if let Some(dns) = &d.dns {
                println!("\nSet in the domain's DNS (the second to issue certificates by DNS-01):");
                table(
                    &["NAME", "TYPE", "TARGET"],
                    [&dns.cname, &dns.acme_challenge]
                        .into_iter()
                        .map(|r| vec![r.name.clone(), "CNAME".into(), r.target.clone()]),
                );
                println!("\nCheck with: cirrusctl domain status {}", d.conf.domain);
            }
        }
    }

    pub(crate) fn domain_status(&self, s: &DomainStatus) {
        if self.json(s) {
            let row = |what: &str, c: &DelegationCheck| {
                let state = if c.ok { "ok" } else { "missing" };
                let seen = match (&c.error, c.found.is_empty()) {
                    (Some(e), _) => e.clone(),
                    (None, true) => "-".into(),
                    (None, false) => c.found.join(","),
                };
                vec![what.into(), c.name.clone(), c.target.clone(), state.into(), seen]
            };
            println!("{} is {}", s.domain, if s.ready { "ready" } else { "not ready" });
            if !s.enabled {
                println!("  the domain is disabled");
            }
            table(
                &["CHECK", "NAME", "MUST POINT TO", "STATE", "SEEN"],
                [row("cname", &s.cname), row("acme_challenge", &s.acme_challenge)],
            );
            let c = &s.certificate;
            println!(
                "certificate: {}{}{}",
                format!("{:?}", c.status).to_lowercase(),
                if c.has_certificate { ", stored" } else { ", none stored" },
                c.not_after
                    .map(|t| format!(", expires at {}", rfc3339(t)))
                    .unwrap_or_default()
            );
        }
    }

    pub(crate) fn purge(&self, p: &PurgeAccepted) {
        if self.json(p) {
            println!("purge {} published at revision {}", p.id, p.revision);
        }
    }

    pub(crate) fn purge_status(&self, p: &PurgeStatus) {
        if self.json(p) {
            println!("purge {} of {}: applied by {} edge(s)", p.id, p.domain, p.applied.len());
            table(
                &["EDGE", "APPLIED_MS", "DELAY_MS"],
                p.applied
                    .iter()
                    .map(|a| vec![a.node.clone(), a.applied_ms.to_string(), a.delay_ms.to_string()]),
            );
            if !p.pending.is_empty() {
                println!("pending: {}", p.pending.join(", "));
            }
            if !p.silent.is_empty() {
                println!("not reporting (not waited for): {}", p.silent.join(", "));
            }
        }
    }

    pub(crate) fn certificate(&self, c: &CertificateStatus) {
        if self.json(c) {
            certificate_table(std::slice::from_ref(c));
        }
    }

    pub(crate) fn certificates(&self, items: &[CertificateStatus]) {
        if self.json(items) {
            certificate_table(items);
        }
    }

    pub(crate) fn purges(&self, items: &[PurgeStatus]) {
        if self.json(items) {
            table(
                &["ID", "DOMAIN", "PUBLISHED", "APPLIED", "PENDING", "SILENT"],
                items.iter().map(|p| {
                    vec![
                        p.id.clone(),
                        p.domain.clone(),
                        rfc3339_ms(p.published_ms),
                        p.applied.len().to_string(),
                        p.pending.join(","),
                        p.silent.len().to_string(),
                    ]
                }),
            );
        }
    }

    pub(crate) fn nodes(&self, items: &[Node]) {
        if self.json(items) {
            table(
                &["ID", "IPV4", "IPV6", "WEIGHT", "ENABLED", "ACTIVE", "FAILURES"],
                items.iter().map(|n| {
                    vec![
                        n.id.clone(),
                        n.ipv4.map(|a| a.to_string()).unwrap_or_default(),
                        n.ipv6.map(|a| a.to_string()).unwrap_or_default(),
                        n.weight.to_string(),
                        n.enabled.to_string(),
                        n.active.to_string(),
                        n.health.consecutive_failures.to_string(),
                    ]
                }),
            );
        }
    }

    pub(crate) fn node(&self, n: &Node, created: Option<bool>) {
        if self.json(n) {
            if let Some(created) = created {
                println!("{} node {}", if created { "created" } else { "updated" }, n.id);
            }
            self.nodes(std::slice::from_ref(n));
        }
    }

    pub(crate) fn created_token(&self, t: &CreatedToken) {
        if self.json(t) {
            println!("token {} created; its secret is shown once:", t.token.id);
            println!("{}", t.secret);
        }
    }

    pub(crate) fn tokens(&self, items: &[ServiceToken]) {
        if self.json(items) {
            table(
                &["ID", "NAME", "SCOPES", "DOMAINS", "EXPIRES_AT"],
                items.iter().map(|t| {
                    vec![
                        t.id.clone(),
                        t.name.clone(),
                        scopes(&t.scopes),
                        t.domains.as_ref().map_or_else(|| "*".into(), |d| d.join(",")),
                        t.expires_at.map(rfc3339).unwrap_or_else(|| "never".into()),
                    ]
                }),
            );
        }
    }

    pub(crate) fn audit(&self, list: &AuditList) {
        if self.json(list) {
            table(
                &["AT", "ACTOR", "ACTION", "RESOURCE", "REQUEST_ID"],
                list.items.iter().map(|r| {
                    vec![
                        rfc3339_ms(r.at_ms),
                        r.actor.clone(),
                        r.action.clone(),
                        r.resource.clone(),
                        r.request_id.clone().unwrap_or_default(),
                    ]
                }),
            );
        }
    }

    pub(crate) fn identity(&self, me: &Identity) {
        if self.json(me) {
            let domains = me.domains.as_ref().map_or_else(|| "*".into(), |d| d.join(","));
            table(
                &["KIND", "ID", "SCOPES", "DOMAINS"],
                [vec![me.kind.clone(), me.id.clone(), scopes(&me.scopes), domains]],
            );
        }
    }

    pub(crate) fn health(&self, h: &Health) {
        if self.json(h) {
            let rev = h.revision.map(|r| format!(" (revision {r})")).unwrap_or_default();
            println!("{}{rev}", h.status);
        }
    }
}

fn scopes(scopes: &[cirrus_core::model::Scope]) -> String {
    scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(",")
}

/// Prints `rows` under `headers`, columns padded to their widest cell.
pub(super) fn table(headers: &[&str], rows: impl IntoIterator<Item = Vec<String>>) {
    let rows: Vec<Vec<String>> = rows.into_iter().collect();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(headers.to_vec());
    for row in &rows {
        line(row.iter().map(String::as_str).collect());
    }
}

fn certificate_table(items: &[CertificateStatus]) {
    table(
        &["DOMAIN", "STATUS", "JOB", "NOT_AFTER", "ERROR"],
        items.iter().map(|c| {
            vec![
                c.domain.clone(),
                format!("{:?}", c.status).to_lowercase(),
                c.job_id.clone().unwrap_or_default(),
                c.not_after.map(rfc3339).unwrap_or_default(),
                c.error.clone().unwrap_or_default(),
            ]
        }),
    );
}
