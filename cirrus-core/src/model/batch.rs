//! `POST /api/v1/domains:batch`: many domains created or replaced in one
//! call, each with its own result, announced as one change.

use super::api::ErrorDetail;
use serde::{Deserialize, Serialize};

/// The most domains one batch may hold.
pub const MAX_BATCH: usize = 1000;

/// What became of one domain of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum BatchOutcome {
    /// The domain is new.
    Created,
    /// The domain existed and was replaced.
    Updated,
    /// The domain existed with this very configuration: nothing written.
    Unchanged,
    /// Not written: `error` says why.
    Refused,
}

/// One domain's result, in the order of the request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BatchItem {
    /// The item's position in the request, from 0.
    pub index: usize,
    /// The domain, when the item named one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// What became of it.
    pub outcome: BatchOutcome,
    /// Why it was refused (`invalid_input`, `forbidden`, `duplicate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorDetail>,
}

/// The answer to a batch: every item's result, in the request's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BatchResult {
    /// The store's revision after the batch (unchanged when nothing was written).
    pub revision: u64,
    /// One result per item of the request.
    pub items: Vec<BatchItem>,
}

impl BatchResult {
    /// How many items ended with `outcome`.
    pub fn count(&self, outcome: BatchOutcome) -> usize {
        self.items.iter().filter(|i| i.outcome == outcome).count()
    }

    /// The items that were refused.
    pub fn refused(&self) -> impl Iterator<Item = &BatchItem> {
        self.items.iter().filter(|i| i.outcome == BatchOutcome::Refused)
    }
}
