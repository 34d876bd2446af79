//! Field-level validation: every problem is reported with the path of the
//! field and a reason, so an API can answer with all of them at once.

use serde::{Deserialize, Serialize};
use std::fmt;

/// One problem in one field, e.g. `origins[1].port: must be 1-65535`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub struct FieldError {
    /// Path of the field, e.g. `origins[1].port`.
    pub field: String,
    /// Why the value is refused.
    pub reason: String,
}

/// Every problem found in a value; never empty when returned as an error.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ValidationErrors {
    /// The problems, in field order.
    pub errors: Vec<FieldError>,
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{}: {}", e.field, e.reason)?;
        }
        Ok(())
    }
}

impl ValidationErrors {
    /// Records a problem at `field`.
    pub fn push(&mut self, field: impl Into<String>, reason: impl Into<String>) {
        self.errors.push(FieldError {
            field: field.into(),
            reason: reason.into(),
        });
    }

    /// True when no problem was recorded.
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// `Ok(value)` when no problem was recorded, else `Err(self)`.
    pub fn into_result<T>(self, value: T) -> Result<T, ValidationErrors> {
        if self.is_empty() { Ok(value) } else { Err(self) }
    }
}

/// Lowercases, maps (IDNA/UTS-46) and checks a DNS host name such as a
/// customer domain. Returns the ASCII (punycode) form.
///
/// Refused: IP addresses, wildcards, single labels, labels longer than 63
/// bytes, names longer than 253 bytes, characters outside `a-z0-9-`.
pub fn normalize_domain(input: &str) -> Result<String, String> {
    let name = normalize_host(input)?;
    if !name.contains('.') {
        return Err("must have at least two labels (e.g. example.com)".into());
    }
    let tld = name.rsplit('.').next().unwrap_or_default();
    if tld.bytes().all(|b| b.is_ascii_digit()) {
        return Err("must be a domain name, not an IP address".into());
    }
    Ok(name)
}

/// True for a request id worth passing through (`x-request-id`): 1-128
/// characters of `A-Z a-z 0-9 - _ . :`. Anything else is replaced by a
/// generated id, so ids are safe in logs and headers.
pub fn is_request_id(id: &str) -> bool {
    (1..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

/// Like [`normalize_domain`] but also accepts single-label names such as
/// `localhost` (origin hosts, SNI overrides).
pub fn normalize_host(input: &str) -> Result<String, String> {
    let trimmed = input.trim();
    let trimmed = trimmed.strip_suffix('.').unwrap_or(trimmed);
    if trimmed.is_empty() {
        return Err("must not be empty".into());
    }
    if trimmed.len() > 253 * 4 {
        return Err("must be at most 253 bytes".into());
    }
    let ascii = idna::domain_to_ascii(trimmed).map_err(|_| "is not a valid domain name".to_string())?;
    if !trimmed.is_ascii() {
        canonical_idn(trimmed, &ascii)?;
    }
    if ascii.is_empty() || ascii.len() > 253 {
        return Err("must be 1-253 bytes long".into());
    }
    for label in ascii.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err("each label must be 1-63 bytes long".into());
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(format!("label {label:?} may contain only a-z, 0-9 and '-'"));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(format!("label {label:?} must not start or end with '-'"));
        }
    }
    Ok(ascii)
}

/// Accepts an internationalised name only when UTS-46 changes nothing but
/// letter case: a mapping that drops or rewrites characters (a zero-width
/// space, full-width letters) would make the stored name differ from the
/// one the customer typed, so it is refused with the name it would become.
fn canonical_idn(input: &str, ascii: &str) -> Result<(), String> {
    let (unicode, decoded) = idna::domain_to_unicode(ascii);
    let typed = input.to_lowercase();
    if decoded.is_ok() && unicode == typed {
        return Ok(());
    }
    let changed: Vec<String> = typed
        .chars()
        .filter(|c| !c.is_ascii() && !unicode.contains(*c))
        .map(|c| format!("U+{:04X}", u32::from(c)))
        .collect();
    Err(format!(
        "is not in canonical IDNA form: characters {} would be changed or dropped, making it {unicode:?} ({ascii}); \
         send that name if it is the one you mean",
        changed.join(", ")
    ))
}

/// What is wrong with `path` as a request path (a purge URL, a cache rule's
/// match), or `None`: it must start with `/`, hold no space or control
/// character, and be at most `max` bytes. The reason names the first
/// offending byte and where it is.
pub(crate) fn path_problem(path: &str, max: usize) -> Option<String> {
    if !path.starts_with('/') {
        return Some("must be a path starting with '/'".into());
    }
    if path.len() > max {
        return Some(format!("must be at most {max} bytes (it has {})", path.len()));
    }
    let (at, b) = path
        .bytes()
        .enumerate()
        .find(|(_, b)| b.is_ascii_control() || *b == b' ')?;
    let what = match b {
        b' ' => "a space".to_string(),
        b'\r' => "a carriage return (CR)".to_string(),
        b'\n' => "a line feed (LF)".to_string(),
        0 => "a NUL byte".to_string(),
        b'\t' => "a tab".to_string(),
        other => format!("the control character 0x{other:02x}"),
    };
    Some(format!(
        "contains {what} at byte {at}: percent-encode it (a path is sent as it would be on the request line)"
    ))
}

/// True for a valid HTTP header field name (RFC 9110 token).
pub(crate) fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// True for a header value without control characters (no CR, LF or NUL).
pub(crate) fn is_header_value(value: &str) -> bool {
    value.len() <= 4096 && value.bytes().all(|b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

/// True for an identifier such as a node or token id: `[a-z0-9][a-z0-9._-]{0,63}`.
pub(crate) fn is_identifier(id: &str) -> bool {
    let bytes = id.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 64
        && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_short_and_plain() {
        assert!(is_request_id("req-123_a.b:c"));
        assert!(is_request_id(&"a".repeat(128)));
        for bad in ["", "has space", "tab\t", "quote\"", "new\nline", "ünïcode"] {
            assert!(!is_request_id(bad), "{bad:?}");
        }
        assert!(!is_request_id(&"a".repeat(129)));
    }

    #[test]
    fn domains_are_lowercased_and_idna_mapped() {
        assert_eq!(normalize_domain("WWW.Example.COM.").as_deref(), Ok("www.example.com"));
        assert_eq!(
            normalize_domain("bücher.example").as_deref(),
            Ok("xn--bcher-kva.example")
        );
    }

    #[test]
    fn path_problems_say_what_is_wrong() {
        assert_eq!(path_problem("/a/b?c=d", 100), None);
        assert!(path_problem("a", 100).is_some_and(|p| p.contains("starting with '/'")));
        assert!(path_problem("/a\r\nX: y", 100).is_some_and(|p| p.contains("carriage return (CR) at byte 2")));
        assert!(path_problem("/a\nb", 100).is_some_and(|p| p.contains("line feed (LF) at byte 2")));
        assert!(path_problem("/\0", 100).is_some_and(|p| p.contains("NUL byte at byte 1")));
        assert!(path_problem("/a b", 100).is_some_and(|p| p.contains("a space at byte 2")));
        assert!(path_problem("/abc", 3).is_some_and(|p| p.contains("at most 3 bytes")));
    }

    #[test]
    fn idns_are_taken_only_in_their_canonical_form() {
        assert_eq!(normalize_domain("BÜCHER.test").as_deref(), Ok("xn--bcher-kva.test"));
        assert_eq!(normalize_domain("😀.test").as_deref(), Ok("xn--e28h.test"));
        assert_eq!(
            normalize_domain("xn--bcher-kva.test").as_deref(),
            Ok("xn--bcher-kva.test")
        );
        let zwsp = normalize_domain("a\u{200b}b.test").expect_err("a zero-width space is not dropped silently");
        assert!(zwsp.contains("U+200B") && zwsp.contains("\"ab.test\""), "{zwsp}");
        let wide = normalize_domain("ｅｘａｍｐｌｅ.com").expect_err("full-width letters are not mapped silently");
        assert!(wide.contains("example.com"), "{wide}");
        assert!(normalize_domain("xn--zz-.test").is_err(), "invalid punycode");
    }

    #[test]
    fn bad_domains_are_refused_with_a_reason() {
        for bad in [
            "",
            "localhost",
            "1.2.3.4",
            "a..b",
            "-a.com",
            "a_b.com",
            "*.x.com",
            "a b.com",
        ] {
            assert!(normalize_domain(bad).is_err(), "{bad:?} accepted");
        }
        let long = format!("{}.com", "a".repeat(64));
        assert!(normalize_domain(&long).is_err());
    }

    #[test]
    fn errors_display_field_and_reason() {
        let mut e = ValidationErrors::default();
        e.push("origins[1].port", "must be 1-65535");
        e.push("domain", "must not be empty");
        assert_eq!(
            e.to_string(),
            "origins[1].port: must be 1-65535; domain: must not be empty"
        );
    }
}

#[cfg(test)]
mod fuzz {
    use super::*;
    use crate::model::{DomainConf, Node, PurgeRequest};
    use proptest::prelude::*;

    proptest! {
        /// Any string gets an answer, never a panic, and accepted names are
        /// stable under normalization.
        #[test]
        fn normalize_never_panics(s in "\\PC{0,300}") {
            if let Ok(n) = normalize_domain(&s) {
                prop_assert_eq!(normalize_domain(&n), Ok(n.clone()));
                prop_assert!(n.len() <= 253);
            }
        }

        /// Arbitrary JSON is either refused by serde or validated without
        /// a panic.
        #[test]
        fn arbitrary_json_never_panics(
            domain in "\\PC{0,40}",
            host in "\\PC{0,40}",
            port in any::<u16>(),
            weight in any::<u32>(),
            ext in "\\PC{0,20}",
            header in "\\PC{0,20}",
        ) {
            let json = serde_json::json!({
                "domain": domain,
                "origins": [{"host": host, "port": port, "weight": weight}],
                "cache": {"rules": [{"match": {"extension": ext}}], "key": {"headers": [header.clone()]}},
                "response_headers": {"set": {header.clone(): header}},
            });
            if let Ok(conf) = serde_json::from_value::<DomainConf>(json) {
                let _ = conf.validated();
            }
            let _ = serde_json::from_str::<Node>(&format!(r#"{{"id":{:?},"ipv4":"1.2.3.4"}}"#, domain)).map(Node::validated);
            let _ = serde_json::from_str::<PurgeRequest>(&format!(r#"{{"domain":{:?},"path":{:?}}}"#, domain, host)).map(PurgeRequest::validated);
        }
    }
}
