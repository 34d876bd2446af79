//! `cirrus store`: operator tools for the store itself.

use super::BoxError;
use clap::{Args, Subcommand};

/// What `cirrus store` does.
#[derive(Debug, Subcommand)]
pub(crate) enum StoreCmd {
    /// Takes a store whose history went back (Redis restarted without its
    /// data, an older restore) as it is: its revision moves past what the
    /// edges kept, they reload from it, and the API accepts writes again.
    Adopt(AdoptArgs),
}

/// Flags of `cirrus store adopt`.
#[derive(Debug, Args)]
pub(crate) struct AdoptArgs {
    /// The store: as every role takes it.
    #[arg(long, env = "CIRRUS_STORE", default_value = "./cirrus-data", value_parser = super::store_location)]
    store: String,
    /// Adopt it (without it, only say what adopting would do).
    #[arg(long)]
    yes: bool,
}

pub(crate) async fn run(cmd: StoreCmd) -> Result<(), BoxError> {
    let StoreCmd::Adopt(args) = cmd;
    let store = cirrus_core::open_store(&args.store)?;
    let behind = store.regressions().await?;
    let revision = store.revision().await?;
    if behind.is_empty() {
        println!("no edge reports the store behind it (revision {revision}): nothing to adopt");
        return Ok(());
    }
    for (node, kept) in &behind {
        println!("edge {node} serves revision {kept}; the store is at {revision}");
    }
    if !args.yes {
        println!(
            "adopting takes the store as it is: every edge reloads from it (what it lost is lost) and the API \
             accepts writes again; restoring a backup first keeps more. Run again with --yes to adopt."
        );
        return Ok(());
    }
    let adopted = store.adopt_history().await?;
    println!("adopted: the store is at revision {adopted}; the edges follow it again");
    Ok(())
}
