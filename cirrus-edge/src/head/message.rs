//! [`RequestHead`] and [`ResponseHead`]: a start line and [`Fields`],
//! parsed from HTTP/1.1 bytes in place, written back, and converted to and
//! from the `http` crate's parts.

use super::{FieldError, Fields};
use bytes::BytesMut;
use http::{Method, StatusCode, Uri, Version};
use std::mem::MaybeUninit;

/// Most fields a head parsed by [`RequestHead::parse`] or
/// [`ResponseHead::parse`] may have.
pub const MAX_FIELDS: usize = 128;

/// Why bytes are not a head.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HeadError {
    /// The bytes are not an HTTP/1.x head (the text says which part).
    #[error("malformed head: {0}")]
    Malformed(&'static str),
    /// More than [`MAX_FIELDS`] fields.
    #[error("too many header fields")]
    TooManyFields,
    /// A field would not convert.
    #[error(transparent)]
    Field(#[from] FieldError),
}

/// A request's method, target, version and fields.
#[derive(Debug, Clone)]
pub struct RequestHead {
    /// The method.
    pub method: Method,
    /// The request target.
    pub uri: Uri,
    /// The protocol version.
    pub version: Version,
    /// The header fields.
    pub fields: Fields,
}

/// A response's status, version and fields.
#[derive(Debug, Clone)]
pub struct ResponseHead {
    /// The status code.
    pub status: StatusCode,
    /// The protocol version.
    pub version: Version,
    /// The header fields.
    pub fields: Fields,
}

fn version(minor: Option<u8>) -> Version {
    if minor == Some(0) {
        Version::HTTP_10
    } else {
        Version::HTTP_11
    }
}

fn version_text(version: Version) -> &'static [u8] {
    if version == Version::HTTP_10 {
        b"HTTP/1.0"
    } else {
        b"HTTP/1.1"
    }
}

fn httparse_error(e: httparse::Error) -> HeadError {
    match e {
        httparse::Error::TooManyHeaders => HeadError::TooManyFields,
        httparse::Error::Version => HeadError::Malformed("version"),
        httparse::Error::Status => HeadError::Malformed("status"),
        httparse::Error::Token => HeadError::Malformed("method"),
        _ => HeadError::Malformed("field"),
    }
}

impl RequestHead {
    /// A head for `method` on `uri`, HTTP/1.1, with no field.
    pub fn new(method: Method, uri: Uri) -> Self {
        Self {
            method,
            uri,
            version: Version::HTTP_11,
            fields: Fields::new(),
        }
    }

    /// Parses the request head at the start of `buf` and consumes it;
    /// `Ok(None)` when more bytes are needed. The fields stay in the
    /// bytes they came in: nothing is copied per field.
    pub fn parse(buf: &mut BytesMut) -> Result<Option<Self>, HeadError> {
        Self::parse_at_most(buf, MAX_FIELDS)
    }

    /// [`RequestHead::parse`] with room for `max_fields` fields (the
    /// codec's limit; more is [`HeadError::TooManyFields`]).
    pub(crate) fn parse_at_most(buf: &mut BytesMut, max_fields: usize) -> Result<Option<Self>, HeadError> {
        let mut stack = [const { MaybeUninit::uninit() }; MAX_FIELDS];
        let mut heap = Vec::new();
        let slots: &mut [MaybeUninit<httparse::Header<'_>>] = if max_fields <= MAX_FIELDS {
            &mut stack[..max_fields]
        } else {
            heap.resize_with(max_fields, MaybeUninit::uninit);
            &mut heap
        };
        let mut req = httparse::Request::new(&mut []);
        let len = match httparse::ParserConfig::default().parse_request_with_uninit_headers(&mut req, buf, slots) {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(e) => return Err(httparse_error(e)),
        };
        let method = Method::from_bytes(req.method.unwrap_or_default().as_bytes())
            .map_err(|_| HeadError::Malformed("method"))?;
        let version = version(req.version);
        let base = buf.as_ptr() as usize;
        let target = req.path.unwrap_or_default();
        let target = (target.as_ptr() as usize - base)..(target.as_ptr() as usize - base + target.len());
        let mut fields = Fields::parsed(buf, req.headers);
        let bytes = buf.split_to(len).freeze();
        let uri = Uri::from_maybe_shared(bytes.slice(target)).map_err(|_| HeadError::Malformed("target"))?;
        fields.attach(bytes);
        Ok(Some(Self {
            method,
            uri,
            version,
            fields,
        }))
    }

    /// Writes the head as HTTP/1.1 bytes: the request line with the
    /// target's origin form (path and query), the fields, the empty line.
    pub fn write_to(&self, buf: &mut Vec<u8>) {
        buf.extend_from_slice(self.method.as_str().as_bytes());
        buf.push(b' ');
        buf.extend_from_slice(self.uri.path_and_query().map_or("/", |p| p.as_str()).as_bytes());
        buf.push(b' ');
        buf.extend_from_slice(version_text(self.version));
        buf.extend_from_slice(b"\r\n");
        self.fields.write_to(buf);
        buf.extend_from_slice(b"\r\n");
    }

    /// The head as `http` request parts.
    pub fn to_parts(&self) -> Result<http::request::Parts, HeadError> {
        let (mut parts, ()) = http::Request::new(()).into_parts();
        parts.method = self.method.clone();
        parts.uri = self.uri.clone();
        parts.version = self.version;
        parts.headers = self.fields.to_header_map()?;
        Ok(parts)
    }
}

impl From<http::request::Parts> for RequestHead {
    fn from(parts: http::request::Parts) -> Self {
        Self {
            fields: Fields::from(&parts.headers),
            method: parts.method,
            uri: parts.uri,
            version: parts.version,
        }
    }
}

impl ResponseHead {
    /// A head with `status`, HTTP/1.1, with no field.
    pub fn new(status: StatusCode) -> Self {
        Self {
            status,
            version: Version::HTTP_11,
            fields: Fields::new(),
        }
    }

    /// Parses the response head at the start of `buf` (an interim 1xx
    /// head too: the caller decides what to do with it) and consumes it;
    /// `Ok(None)` when more bytes are needed.
    pub fn parse(buf: &mut BytesMut) -> Result<Option<Self>, HeadError> {
        let mut slots = [const { MaybeUninit::uninit() }; MAX_FIELDS];
        let mut res = httparse::Response::new(&mut []);
        let len = match httparse::ParserConfig::default().parse_response_with_uninit_headers(&mut res, buf, &mut slots)
        {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(e) => return Err(httparse_error(e)),
        };
        let status = StatusCode::from_u16(res.code.unwrap_or(0)).map_err(|_| HeadError::Malformed("status"))?;
        let version = version(res.version);
        let mut fields = Fields::parsed(buf, res.headers);
        fields.attach(buf.split_to(len).freeze());
        Ok(Some(Self {
            status,
            version,
            fields,
        }))
    }

    /// Writes the head as HTTP/1.1 bytes (status line, fields, empty line).
    pub fn write_to(&self, buf: &mut Vec<u8>) {
        buf.extend_from_slice(version_text(self.version));
        buf.push(b' ');
        buf.extend_from_slice(self.status.as_str().as_bytes());
        buf.push(b' ');
        buf.extend_from_slice(self.status.canonical_reason().unwrap_or("").as_bytes());
        buf.extend_from_slice(b"\r\n");
        self.fields.write_to(buf);
        buf.extend_from_slice(b"\r\n");
    }

    /// The head as `http` response parts.
    pub fn to_parts(&self) -> Result<http::response::Parts, HeadError> {
        let (mut parts, ()) = http::Response::new(()).into_parts();
        parts.status = self.status;
        parts.version = self.version;
        parts.headers = self.fields.to_header_map()?;
        Ok(parts)
    }
}

impl From<http::response::Parts> for ResponseHead {
    fn from(parts: http::response::Parts) -> Self {
        Self {
            status: parts.status,
            version: parts.version,
            fields: Fields::from(&parts.headers),
        }
    }
}
