//! `cirrusctl events`: a page of the event stream, or `--follow` it from
//! now on by asking every second with the last page's `next_after`.

use super::args::EventArgs;
use super::error::CtlError;
use super::output::Printer;
use cirrus_client::{Client, EventQuery};
use std::time::Duration;

/// How often `--follow` asks for what is new.
const POLL: Duration = Duration::from_secs(1);

pub(super) async fn run(api: &Client, out: &Printer, args: EventArgs) -> Result<i32, CtlError> {
    let mut query = EventQuery {
        after: args.after,
        types: args.types,
        subject: args.subject,
        limit: Some(if args.follow { 1000 } else { args.limit }),
    };
    if !args.follow {
        out.events(&api.events(&query).await?, false);
        return Ok(super::EXIT_OK);
    }
    if query.after.is_none() {
        query.after = end_of_stream(api).await?;
    }
    loop {
        let page = api.events(&query).await?;
        out.events(&page, true);
        let caught_up = page.items.len() < 1000;
        query.after = page.next_after.or(query.after);
        if caught_up {
            tokio::time::sleep(POLL).await;
        }
    }
}

/// The id of the newest event (`None` when the stream is empty): where
/// `--follow` starts without `--after`.
async fn end_of_stream(api: &Client) -> Result<Option<String>, CtlError> {
    let mut query = EventQuery {
        limit: Some(1000),
        ..EventQuery::default()
    };
    loop {
        let page = api.events(&query).await?;
        if page.items.is_empty() {
            return Ok(page.next_after.or(query.after));
        }
        query.after = page.next_after;
    }
}
