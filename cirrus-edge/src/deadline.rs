//! A timer kept across requests ([`Deadline`]): armed once, then re-armed
//! only when it fires before the deadline now asked for, so waiting for a
//! deadline per request costs no timer registration per request (a tokio
//! timer takes the time driver's lock to register and again to cancel).
//! The client connection's header timeout and an origin connection's
//! answer timeout use one each.

use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::time::{Instant, Sleep};

/// A reusable timer; see the module documentation.
#[derive(Debug, Default)]
pub(crate) struct Deadline {
    timer: Option<Pin<Box<Sleep>>>,
}

impl Deadline {
    /// Whether `deadline` has passed; when not, the task is woken no later
    /// than then (possibly earlier, when the timer was armed for an
    /// earlier deadline: the caller polls again and it is re-armed).
    pub(crate) fn poll_passed(&mut self, cx: &mut Context<'_>, deadline: Instant) -> bool {
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if timer.deadline() > deadline {
            timer.as_mut().reset(deadline);
        }
        while timer.as_mut().poll(cx).is_ready() {
            if timer.deadline() >= deadline {
                return true;
            }
            timer.as_mut().reset(deadline);
        }
        false
    }

    /// `future`'s output, or `None` once `deadline` passed first.
    pub(crate) async fn within<F: Future>(&mut self, deadline: Instant, future: F) -> Option<F::Output> {
        let mut future = std::pin::pin!(future);
        std::future::poll_fn(|cx| {
            if let Poll::Ready(out) = future.as_mut().poll(cx) {
                return Poll::Ready(Some(out));
            }
            if self.poll_passed(cx, deadline) {
                return Poll::Ready(None);
            }
            Poll::Pending
        })
        .await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_deadline_is_kept_whatever_the_timer_was_armed_for() {
        let ms = Duration::from_millis;
        let mut d = Deadline::default();
        let start = Instant::now();
        // Done in time: the output; the timer stays armed for start + 40 ms.
        let sleep = tokio::time::sleep_until(start + ms(10));
        assert_eq!(d.within(start + ms(40), sleep).await, Some(()));
        // A later deadline: the timer fires early at 40 ms, is re-armed,
        // and the wait ends at the deadline asked for.
        let late = start + ms(120);
        assert_eq!(d.within(late, std::future::pending::<()>()).await, None);
        let now = Instant::now();
        assert!(now >= late && now < late + ms(1000), "{:?}", now - late);
        // An earlier deadline than the one armed is kept too.
        d.timer.as_mut().unwrap().as_mut().reset(now + ms(60_000));
        let near = now + ms(30);
        assert_eq!(d.within(near, std::future::pending::<()>()).await, None);
        let then = Instant::now();
        assert!(then >= near && then < near + ms(1000), "{:?}", then - near);
    }
}
