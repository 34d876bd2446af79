//! HTTP/1.1 on the wire, both directions, the bottom layer of the edge:
//! request heads parsed and framed strictly and written to origins
//! ([`request`]), response heads parsed ([`response`]), bodies decoded by
//! length, chunks or close ([`decode`]) and handed over with back-pressure
//! ([`body`]), and the field checks that refuse smuggling ([`fields`]).
//! The client side (`downstream::h1`) and the origin side (`upstream`)
//! both use it; it imports nothing else of the crate but the heads it
//! reads and writes ([`crate::head`]).

mod body;
mod decode;
mod fields;
mod request;
mod response;

pub(crate) use body::{H1Body, channel};
pub(crate) use decode::{Decoder, Step};
pub(crate) use fields::{decimal_length, framing_problem, lists, may_end_a_head, put_decimal, put_field};
pub(crate) use request::{Head, Limits, Refusal, RequestBody, parse as parse_request, write_head};
pub(crate) use response::{MAX_HEAD, Parsed, Received, parse_head as parse_response};

/// How the body of a response is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body (HEAD, 204, 304).
    Empty,
    /// Exactly this many bytes.
    Length(u64),
    /// Chunked, trailers allowed.
    Chunked,
    /// Until the origin closes the connection.
    Close,
}
