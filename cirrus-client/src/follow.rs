//! Following the event stream: [`Client::follow_events`] hands out events
//! one at a time as they are written, asking the API for what is new
//! every second (the paged `GET /api/v1/events`, so it works through any
//! proxy that buffers a live response).

use crate::client::{Client, EventQuery};
use crate::error::Result;
use cirrus_core::model::EventRecord;
use std::collections::VecDeque;
use std::time::Duration;

/// How often a follower asks for what is new once it has caught up.
const POLL: Duration = Duration::from_secs(1);

/// Events in the order they were written, from where
/// [`Client::follow_events`] started. Remember the last event's `id`:
/// following again with it as `after` resumes without a gap.
#[derive(Debug)]
pub struct EventFollower {
    client: Client,
    query: EventQuery,
    ready: VecDeque<EventRecord>,
}

impl EventFollower {
    /// The next event, waiting until one is written. An error (the API
    /// unreachable, say) leaves the follower where it was: calling again
    /// goes on from the same place.
    pub async fn next(&mut self) -> Result<EventRecord> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Ok(event);
            }
            let page = self.client.events(&self.query).await?;
            // Caught up when the read did not move: a filtered page can
            // be empty with more to read after it.
            let moved = page.next_after.is_some() && page.next_after != self.query.after;
            if moved {
                self.query.after = page.next_after;
            } else if page.items.is_empty() {
                tokio::time::sleep(POLL).await;
            }
            self.ready.extend(page.items);
        }
    }
}

impl Client {
    /// Follows the events `query` selects: from after `query.after`, or,
    /// without it, from now on (what is already in the stream is skipped).
    pub async fn follow_events(&self, mut query: EventQuery) -> Result<EventFollower> {
        query.limit = Some(1000);
        if query.after.is_none() {
            let mut end = EventQuery {
                limit: Some(1000),
                ..EventQuery::default()
            };
            loop {
                let page = self.events(&end).await?;
                if page.items.is_empty() {
                    query.after = page.next_after.or(end.after);
                    break;
                }
                end.after = page.next_after;
            }
        }
        Ok(EventFollower {
            client: self.clone(),
            query,
            ready: VecDeque::new(),
        })
    }
}
