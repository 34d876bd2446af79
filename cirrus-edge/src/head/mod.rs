//! The edge's own message heads: [`RequestHead`] and [`ResponseHead`],
//! whose [`Fields`] are spans over the bytes a head arrived in, with the
//! common field names interned. A parsed head costs one buffer and one
//! line table, not an allocation and a reference count per field as an
//! `http::HeaderMap` does. Conversions to and from the `http` crate's
//! parts are there for code written against it. This module imports
//! nothing else of the crate.

mod fields;
mod message;
mod names;
#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;

pub(crate) use fields::decimal;
pub use fields::{FieldError, Fields};
pub use names::{FieldName, Known};
pub(crate) use names::{KnownSet, lookup as interned};

/// Fields of `pairs`, in order, for tests.
#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) fn fields(pairs: &[(&str, &str)]) -> Fields {
    let mut f = Fields::new();
    for (name, value) in pairs {
        f.append(name, value).unwrap();
    }
    f
}
pub use message::{HeadError, MAX_FIELDS, RequestHead, ResponseHead};
