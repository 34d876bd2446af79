//! The embedded store: configuration changes announced with revisions.
//!
//! Run: `cargo run --example embedded_store`
#![allow(clippy::unwrap_used)]

// Each capability of the store is a trait: bring in the ones used.
use cirrus::core::{ChangeFeed, DomainConf, DomainStore, EmbeddedStore, PurgeLog, PurgeRequest, SubscribeOptions};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let store = EmbeddedStore::open(dir.path())?;
    let mut events = store.subscribe(SubscribeOptions::default()).await?;

    let conf = DomainConf::new("www.Example.com", "https://192.0.2.10:8443".parse()?);
    let write = store.put_domain(&conf).await?;
    println!(
        "stored www.example.com at revision {} (created: {})",
        write.revision, write.created
    );
    store
        .publish_purge(&PurgeRequest::prefixes("www.example.com", ["/img/"]))
        .await?;

    for _ in 0..3 {
        println!("event: {:?}", events.next().await.unwrap());
    }
    println!(
        "the data was in {}, a temporary directory removed as this example exits; \
         open a directory of your own to keep it",
        dir.path().display()
    );
    Ok(())
}
