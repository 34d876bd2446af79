//! The store's Redis connection with a `debug` span per command or
//! pipeline (`db.system`, `db.operation`): the store calls of a traced
//! request (the API's) become its children. Disabled spans cost a check
//! of the subscriber's interest, no more.

use redis::aio::{ConnectionLike, ConnectionManager};
use redis::{Arg, Cmd, Pipeline, RedisFuture, Value};
use tracing::Instrument as _;

/// A [`ConnectionManager`] whose commands are spans.
pub(super) struct Traced(pub(super) ConnectionManager);

/// A command's name (`GET`, `EVALSHA`), for its span.
fn operation(cmd: &Cmd) -> &str {
    match cmd.args_iter().next() {
        Some(Arg::Simple(name)) => std::str::from_utf8(name).unwrap_or("?"),
        _ => "?",
    }
}

impl ConnectionLike for Traced {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        let span = tracing::debug_span!("redis", db.system = "redis", db.operation = operation(cmd));
        Box::pin(self.0.req_packed_command(cmd).instrument(span))
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        let span = tracing::debug_span!("redis pipeline", db.system = "redis", db.operation = "PIPELINE", count);
        Box::pin(self.0.req_packed_commands(pipeline, offset, count).instrument(span))
    }

    fn get_db(&self) -> i64 {
        self.0.get_db()
    }
}
