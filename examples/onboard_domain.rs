//! Onboard a domain with the typed client and wait until it is ready: put
//! it in front of an origin, print the CNAMEs its owner must set, then poll
//! its status until the API's resolver sees them (or give up).
//!
//! Run against `cirrus up` (its banner prints the URL and token):
//! `CIRRUS_URL=http://127.0.0.1:8000 CIRRUS_TOKEN=cirrus_… cargo run --example onboard_domain -- www.example.com http://127.0.0.1:9000`

use cirrus::client::Client;
use cirrus::core::DomainConf;
use cirrus::core::model::DomainStatus;
use std::time::{Duration, Instant};

/// Puts `domain` in front of `origin`, then asks for its status every
/// `poll` until it is ready or `timeout` passes; `progress` sees each
/// answer. Returns the last status (ready or not).
pub async fn onboard(
    api: &Client,
    domain: &str,
    origin: &str,
    poll: Duration,
    timeout: Duration,
    mut progress: impl FnMut(&DomainStatus),
) -> Result<DomainStatus, Box<dyn std::error::Error>> {
    let written = api.put_domain(&DomainConf::new(domain, origin.parse()?)).await?;
    let Some(dns) = written.item.dns else {
        return Err("the API has no zone configured (cirrus api --zone), so it cannot say which CNAME to set".into());
    };
    println!(
        "{} {domain}; set these records in its zone:",
        if written.created { "created" } else { "updated" }
    );
    for r in [&dns.cname, &dns.acme_challenge] {
        println!("  {}  CNAME  {}", r.name, r.target);
    }
    let deadline = Instant::now() + timeout;
    loop {
        let status = api.domain_status(domain).await?;
        progress(&status);
        if status.ready || Instant::now() >= deadline {
            return Ok(status);
        }
        tokio::time::sleep(poll).await;
    }
}

#[allow(dead_code)] // the end-to-end tests call `onboard` only
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(domain), Some(origin)) = (args.get(1), args.get(2)) else {
        return Err("usage: onboard_domain DOMAIN ORIGIN_URL (with CIRRUS_URL and CIRRUS_TOKEN set)".into());
    };
    let url = std::env::var("CIRRUS_URL").unwrap_or_else(|_| "http://127.0.0.1:8000".into());
    let token =
        std::env::var("CIRRUS_TOKEN").map_err(|_| "set CIRRUS_TOKEN to a token with the domains:write scope")?;
    let api = Client::builder(&url).token(token).build()?;
    let status = onboard(
        &api,
        domain,
        origin,
        Duration::from_secs(5),
        Duration::from_secs(600),
        |s| {
            let seen = s.cname.error.clone().unwrap_or_else(|| s.cname.found.join(","));
            println!(
                "{}: cname {} ({seen})",
                s.domain,
                if s.cname.ok { "in place" } else { "not yet" }
            );
        },
    )
    .await?;
    if status.ready {
        println!("{domain} is ready: its traffic reaches the edges");
        Ok(())
    } else {
        Err(format!("{domain} is not ready after 10 minutes: set the CNAME above").into())
    }
}
