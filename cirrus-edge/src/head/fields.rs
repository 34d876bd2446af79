//! [`Fields`]: a message head's header fields, in order, as spans over the
//! bytes they arrived in.

use super::names::{FieldName, NAMES, lookup};
use bytes::Bytes;
use std::fmt;

mod convert;
mod copy;
mod own;

/// Lines a parsed head has room for beyond its own.
const LINES_ADDED: usize = 8;
/// Bytes the first field added to a head makes room for.
const BYTES_ADDED: usize = 256;

/// Where some bytes of a head live: in the bytes it was parsed from, or
/// in the bytes added since.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    added: bool,
    start: u32,
    len: u32,
}

/// A field name: an index in the interned table, or the bytes as given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Name {
    Known(u8),
    Other(Span),
}

#[derive(Debug, Clone, Copy)]
struct Line {
    name: Name,
    value: Span,
}

/// Why a field was not added: its name is not a token, or its value holds
/// a byte a field value may not (CR, LF, NUL or another control byte but
/// tab, RFC 9110 §5.5), which is how responses are split and requests
/// smuggled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FieldError {
    /// The name is empty or holds a byte a token may not.
    #[error("invalid header field name")]
    Name,
    /// The value holds a control byte other than tab.
    #[error("invalid header field value")]
    Value,
    /// The fields added to one head passed 4 GiB.
    #[error("header fields too large")]
    TooLarge,
}

/// The header fields of a request or response head, in the order they
/// came, repeated names kept apart.
///
/// A parsed head's fields are spans over the bytes it arrived in: no copy
/// and no reference count per field, and the names the edge meets on
/// nearly every request (`host`, `cache-control`, …) are interned. Fields
/// added or changed later go to a second buffer of the head's own (kept
/// until the head is dropped, so a value replaced still takes room). Names
/// compare case-insensitively; values are bytes ([`Fields::get_str`] for
/// text).
///
/// ```
/// use cirrus_edge::head::Fields;
///
/// let mut fields = Fields::new();
/// fields.append("Cache-Control", "max-age=60").unwrap();
/// fields.append("x-tag", "a").unwrap();
/// fields.append("X-Tag", "b").unwrap();
/// assert_eq!(fields.get("cache-control"), Some(&b"max-age=60"[..]));
/// assert_eq!(fields.get_all("x-tag").collect::<Vec<_>>(), [&b"a"[..], b"b"]);
/// assert!(fields.append("x-bad", "a\r\nb").is_err());
/// ```
#[derive(Clone, Default)]
pub struct Fields {
    parsed: Bytes,
    added: Vec<u8>,
    lines: Vec<Line>,
    /// Which interned names have a line (bit `i` for [`NAMES`]`[i]`): most
    /// lookups are for a field that is not there, answered without a scan.
    known: u128,
}

// Every interned name has its bit.
const _: () = assert!(NAMES.len() <= 128);

fn bit(name: Name) -> u128 {
    match name {
        Name::Known(i) => 1 << i,
        Name::Other(_) => 0,
    }
}

impl Fields {
    /// No fields.
    pub fn new() -> Self {
        Self::default()
    }

    /// The fields httparse found in a head that starts at `base`, to be
    /// read from that head's bytes once they are handed over with
    /// [`Fields::attach`]. httparse checked names as tokens and values as
    /// field values; heads are far under 4 GiB.
    pub(crate) fn parsed(base: &[u8], found: &[httparse::Header<'_>]) -> Self {
        let at = base.as_ptr() as usize;
        let span = |part: &[u8]| Span {
            added: false,
            start: (part.as_ptr() as usize - at) as u32,
            len: part.len() as u32,
        };
        // Room for the few fields the edge adds to nearly every head
        // (forwarding fields, the request id, `X-Cache`, `Via`): adding
        // them does not move the lines.
        let mut lines = Vec::with_capacity(found.len() + LINES_ADDED);
        lines.extend(found.iter().map(|h| Line {
            name: lookup(h.name.as_bytes()).map_or_else(|| Name::Other(span(h.name.as_bytes())), Name::Known),
            value: span(h.value),
        }));
        let known = lines.iter().fold(0, |k, l| k | bit(l.name));
        Self {
            parsed: Bytes::new(),
            added: Vec::new(),
            lines,
            known,
        }
    }

    /// The bytes of the head these fields were parsed from (empty for
    /// fields that were not parsed).
    pub(crate) fn source(&self) -> &[u8] {
        &self.parsed
    }

    /// Hands over the head's bytes, starting where `base` did.
    pub(crate) fn attach(&mut self, head: Bytes) {
        self.parsed = head;
    }

    #[inline]
    fn bytes(&self, span: Span) -> &[u8] {
        let from = if span.added { &self.added[..] } else { &self.parsed[..] };
        &from[span.start as usize..(span.start + span.len) as usize]
    }

    #[inline]
    fn name_of(&self, name: Name) -> &[u8] {
        match name {
            Name::Known(i) => NAMES[usize::from(i)].as_bytes(),
            Name::Other(span) => self.bytes(span),
        }
    }

    /// Whether `line` has `name`, whose interned index is `known`.
    #[inline]
    fn has(&self, line: &Line, name: &[u8], known: Option<u8>) -> bool {
        match (line.name, known) {
            (Name::Known(i), Some(k)) => i == k,
            (Name::Other(span), None) => self.bytes(span).eq_ignore_ascii_case(name),
            _ => false,
        }
    }

    /// No fields, with room for `n` lines.
    pub fn with_capacity(n: usize) -> Self {
        Self {
            lines: Vec::with_capacity(n),
            ..Self::default()
        }
    }

    /// Adds a field whose name and value are known to be valid (from an
    /// `http` header map), skipping the checks.
    pub(crate) fn append_valid(&mut self, name: &[u8], value: &[u8]) {
        let name = match lookup(name) {
            Some(i) => Name::Known(i),
            None => Name::Other(self.add(name)),
        };
        let value = self.add(value);
        self.push(Line { name, value });
    }

    /// Makes room for `lines` more fields holding `bytes` more bytes of
    /// names and values, so adding them does not grow the head piecemeal.
    pub fn reserve(&mut self, lines: usize, bytes: usize) {
        self.lines.reserve(lines);
        self.added.reserve(bytes);
    }

    /// The number of field lines.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// Whether there is no field.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// The first value of `name` (any case).
    pub fn get(&self, name: impl FieldName) -> Option<&[u8]> {
        self.get_all(name).next()
    }

    /// The first value of `name` as text, when it is visible ASCII.
    pub fn get_str(&self, name: impl FieldName) -> Option<&str> {
        self.get(name)
            .and_then(|v| std::str::from_utf8(v).ok())
            .filter(|v| v.is_ascii())
    }

    /// Every value of `name`, in order.
    pub fn get_all<N: FieldName>(&self, name: N) -> impl Iterator<Item = &[u8]> {
        let known = name.interned();
        let lines = match known {
            Some(k) if self.known & (1 << k) == 0 => &self.lines[..0],
            _ => &self.lines[..],
        };
        lines
            .iter()
            .filter(move |line| self.has(line, name.name_bytes(), known))
            .map(|line| self.bytes(line.value))
    }

    /// Every member of the comma-separated list fields `name` (RFC 9110
    /// §5.6.1), in order, trimmed, empty ones skipped.
    pub fn get_list<N: FieldName>(&self, name: N) -> impl Iterator<Item = &[u8]> {
        self.get_all(name)
            .flat_map(|v| v.split(|b| *b == b','))
            .map(<[u8]>::trim_ascii)
            .filter(|m| !m.is_empty())
    }

    /// Whether `name` is present.
    pub fn contains(&self, name: impl FieldName) -> bool {
        self.get(name).is_some()
    }

    /// Every field, in order: its name (interned ones lowercase, others as
    /// given) and value.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.lines
            .iter()
            .map(|line| (self.name_of(line.name), self.bytes(line.value)))
    }

    /// Adds a field after the others.
    pub fn append(&mut self, name: impl FieldName, value: impl AsRef<[u8]>) -> Result<(), FieldError> {
        let (known, name, value) = (name.interned(), name.name_bytes(), value.as_ref());
        if known.is_none() && (name.is_empty() || !name.iter().all(|b| is_token_byte(*b))) {
            return Err(FieldError::Name);
        }
        if !value.iter().all(|b| is_value_byte(*b)) {
            return Err(FieldError::Value);
        }
        if self.added.len() + name.len() + value.len() > u32::MAX as usize {
            return Err(FieldError::TooLarge);
        }
        let name = match known {
            Some(i) => Name::Known(i),
            None => Name::Other(self.add(name)),
        };
        let value = self.add(value);
        self.push(Line { name, value });
        Ok(())
    }

    /// Sets `name` to `value` alone: its other values are removed.
    pub fn insert(&mut self, name: impl FieldName, value: impl AsRef<[u8]>) -> Result<(), FieldError> {
        self.remove(&name);
        self.append(name, value)
    }

    /// Sets `name` to the decimal `n` alone.
    pub(crate) fn insert_number(&mut self, name: impl FieldName, n: u64) {
        // Digits are a valid value.
        let _ = self.insert(name, decimal(n, &mut [0; 20]));
    }

    /// Removes every value of `name`; whether there was one.
    pub fn remove(&mut self, name: impl FieldName) -> bool {
        let (known, before) = (name.interned(), self.lines.len());
        if let Some(k) = known {
            if self.known & (1 << k) == 0 {
                return false;
            }
            self.known &= !(1 << k);
        }
        let name = name.name_bytes();
        let mut lines = std::mem::take(&mut self.lines);
        lines.retain(|line| !self.has(line, name, known));
        self.lines = lines;
        self.lines.len() != before
    }

    /// Keeps the fields for which `keep(name, value)` holds.
    pub fn retain(&mut self, mut keep: impl FnMut(&[u8], &[u8]) -> bool) {
        let mut lines = std::mem::take(&mut self.lines);
        lines.retain(|line| keep(self.name_of(line.name), self.bytes(line.value)));
        self.known = lines.iter().fold(0, |k, l| k | bit(l.name));
        self.lines = lines;
    }

    fn push(&mut self, line: Line) {
        self.known |= bit(line.name);
        self.lines.push(line);
    }

    fn add(&mut self, bytes: &[u8]) -> Span {
        if self.added.capacity() == 0 {
            // One allocation for what is usually added, not a doubling per field.
            self.added.reserve(bytes.len().max(BYTES_ADDED));
        }
        let span = Span {
            added: true,
            start: self.added.len() as u32,
            len: bytes.len() as u32,
        };
        self.added.extend_from_slice(bytes);
        span
    }

    /// Writes every field as an HTTP/1.1 field line (`name: value` CRLF).
    pub fn write_to(&self, buf: &mut Vec<u8>) {
        for (name, value) in self.iter() {
            buf.extend_from_slice(name);
            buf.extend_from_slice(b": ");
            buf.extend_from_slice(value);
            buf.extend_from_slice(b"\r\n");
        }
    }
}

impl fmt::Debug for Fields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(
                self.iter()
                    .map(|(n, v)| (String::from_utf8_lossy(n), String::from_utf8_lossy(v))),
            )
            .finish()
    }
}

/// `n` in decimal, written at the end of `digits` (no formatting
/// machinery: heads carry lengths and ages on every request).
pub(crate) fn decimal(n: u64, digits: &mut [u8; 20]) -> &[u8] {
    let mut at = digits.len();
    let mut rest = n;
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    &digits[at..]
}

/// A `tchar` of RFC 9110 §5.6.2.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// A byte a field value may hold: visible, space, tab or obs-text.
fn is_value_byte(b: u8) -> bool {
    b == b'\t' || (b >= 0x20 && b != 0x7f)
}
