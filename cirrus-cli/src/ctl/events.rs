//! `cirrusctl events`: a page of the event stream, or `--follow` it from
//! now on (the client's [`EventFollower`](cirrus_client::EventFollower)).

use super::args::EventArgs;
use super::error::CtlError;
use super::output::Printer;
use cirrus_client::{Client, EventQuery};
use cirrus_core::model::EventList;

pub(super) async fn run(api: &Client, out: &Printer, args: EventArgs) -> Result<i32, CtlError> {
    let query = EventQuery {
        after: args.after,
        types: args.types,
        subject: args.subject,
        limit: Some(args.limit),
    };
    if !args.follow {
        out.events(&api.events(&query).await?, false);
        return Ok(super::EXIT_OK);
    }
    let mut follower = api.follow_events(query).await?;
    loop {
        let event = follower.next().await?;
        out.events(
            &EventList {
                items: vec![event],
                next_after: None,
            },
            true,
        );
    }
}
