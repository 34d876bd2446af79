//! [`Fields`] to and from the `http` crate's header map.

use super::{Fields, Name, Span};
use crate::head::FieldError;
use crate::head::names::HTTP_NAMES;

impl Fields {
    /// The fields as an `http` header map, for code written against the
    /// `http` crate: parsed values are shared with the head's bytes, not
    /// copied. Every field added through [`Fields::append`] or parsed by
    /// the edge converts; the error is for neither.
    pub fn to_header_map(&self) -> Result<http::HeaderMap, FieldError> {
        let mut map = http::HeaderMap::with_capacity(self.len());
        for line in &self.lines {
            let name = match line.name {
                Name::Known(i) => HTTP_NAMES[usize::from(i)].clone(),
                Name::Other(span) => http::HeaderName::from_bytes(self.bytes(span)).map_err(|_| FieldError::Name)?,
            };
            let Span { added, start, len } = line.value;
            let value = if added {
                http::HeaderValue::from_bytes(self.bytes(line.value))
            } else {
                http::HeaderValue::from_maybe_shared(self.parsed.slice(start as usize..(start + len) as usize))
            };
            map.append(name, value.map_err(|_| FieldError::Value)?);
        }
        Ok(map)
    }
}

impl From<&http::HeaderMap> for Fields {
    fn from(map: &http::HeaderMap) -> Self {
        let mut fields = Fields::with_capacity(map.len());
        for (name, value) in map {
            // A header map holds only valid names and values.
            fields.append_valid(name.as_str().as_bytes(), value.as_bytes());
        }
        fields
    }
}
