//! Copies of [`Fields`]: with room to add to (an answer), or in one
//! buffer of their own (what is stored).

use super::{BYTES_ADDED, Fields, LINES_ADDED, Line, Name, Span};
use bytes::Bytes;

impl Fields {
    /// A copy with room for `lines` more fields holding `bytes` more
    /// bytes: one allocation each, where a clone then a reserve make two.
    pub(crate) fn clone_with_room(&self, lines: usize, bytes: usize) -> Fields {
        let mut added = Vec::with_capacity(self.added.len() + bytes.max(BYTES_ADDED));
        added.extend_from_slice(&self.added);
        let mut copied = Vec::with_capacity(self.lines.len() + lines);
        copied.extend_from_slice(&self.lines);
        Fields {
            parsed: self.parsed.clone(),
            added,
            lines: copied,
            known: self.known,
        }
    }

    /// A copy to answer with (a stored response's fields): room for the
    /// fields every answer gets, so adding them moves nothing.
    pub(crate) fn to_answer(&self) -> Fields {
        self.clone_with_room(LINES_ADDED, BYTES_ADDED)
    }

    /// The fields copied into one buffer of their own: what is kept for long
    /// (a cached response) holds no slice of the bytes it was parsed
    /// from, such as a connection's read buffer, which it would otherwise
    /// keep alive whole.
    pub fn detached(&self) -> Fields {
        let mut own = Fields::with_capacity(self.len());
        let mut bytes = Vec::with_capacity(self.text_len());
        let mut keep = |part: &[u8]| {
            let span = Span {
                added: false,
                start: bytes.len() as u32,
                len: part.len() as u32,
            };
            bytes.extend_from_slice(part);
            span
        };
        for line in &self.lines {
            let name = match line.name {
                Name::Known(i) => Name::Known(i),
                Name::Other(span) => Name::Other(keep(self.bytes(span))),
            };
            let value = keep(self.bytes(line.value));
            own.push(Line { name, value });
        }
        // Shared by clones (a HIT's copy of the head is one count).
        own.parsed = Bytes::from(bytes);
        own
    }

    /// The bytes of every name and value, as written (without separators).
    pub fn text_len(&self) -> usize {
        self.iter().map(|(n, v)| n.len() + v.len()).sum()
    }
}
