//! The control plane in one process: serve the API over an embedded store,
//! mint a scoped service token with the master token, and drive domains,
//! purge and audit through the typed client.
//!
//! Run: `cargo run --example control_plane`
#![allow(clippy::unwrap_used)]

use cirrus::api::Api;
use cirrus::client::{Client, Written};
use cirrus::core::model::{PurgeSelection, Scope, TokenRequest};
use cirrus::core::{DomainConf, EmbeddedStore};
use std::sync::Arc;

const MASTER: &str = "example-master-token-change-me";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let store = Arc::new(EmbeddedStore::open(dir.path())?);
    let api = Api::builder(store).master_token(MASTER).build()?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let shutdown = cirrus::core::lifecycle::Shutdown::new();
    tokio::spawn(async move { api.run(listener, &shutdown).await });
    println!("API on {url} (for as long as this example runs)");

    // The master token only mints tokens; automation gets a scoped one.
    let master = Client::builder(&url).token(MASTER).build()?;
    let request = TokenRequest {
        name: "deploy".into(),
        scopes: vec![Scope::Read, Scope::DomainsWrite, Scope::Purge],
        domains: Some(vec!["shop.example.com".into()]),
        expires_at: None,
    };
    let token = master.create_token(&request).await?;
    println!("service token {} (secret shown once)", token.token.id);

    let deploy = Client::builder(&url).token(&token.secret).build()?;
    let conf = DomainConf::new("shop.example.com", "https://192.0.2.10".parse()?);
    let Written { created, item, .. } = deploy.put_domain(&conf).await?;
    println!("PUT {} -> created: {created}", item.conf.domain);
    let again = deploy.put_domain(&conf).await?;
    println!("PUT again -> created: {} (idempotent)", again.created);

    let purge = PurgeSelection {
        prefixes: vec!["/img/".into()],
        ..Default::default()
    };
    let accepted = deploy.purge("shop.example.com", &purge).await?;
    println!("purge {} published at revision {}", accepted.id, accepted.revision);

    // Outside its domain list the token is refused, with the server's reason.
    let other = DomainConf::new("other.example.com", "https://192.0.2.11".parse()?);
    let refused = deploy.put_domain(&other).await.unwrap_err();
    println!("PUT other.example.com -> {refused}");

    for record in master.audit(Some(10)).await?.items {
        let request = record.request_id.as_deref().unwrap_or("-");
        println!(
            "audit: {} {} {} (request {request})",
            record.actor, record.action, record.resource
        );
    }
    println!("`cirrus api` serves the same API with its Swagger UI at /docs");
    Ok(())
}
