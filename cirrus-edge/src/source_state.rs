//! The store's state as the edge last saw it: written by the sync loop,
//! read by `/healthz` and the metrics' readiness gauges.

use std::sync::atomic::{AtomicU8, Ordering};

/// The store's state as the edge last saw it, for `/healthz`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SourceState {
    /// No configuration loaded yet.
    Starting = 0,
    /// Loaded, and the source answers.
    Up = 1,
    /// Loaded, but the source does not answer: serving the last configuration.
    Down = 2,
}

impl SourceState {
    /// The state kept in `cell`.
    pub(crate) fn load(cell: &AtomicU8) -> Self {
        match cell.load(Ordering::Relaxed) {
            0 => SourceState::Starting,
            1 => SourceState::Up,
            _ => SourceState::Down,
        }
    }
}
