//! The field names the edge meets on nearly every request, interned: a
//! name in this table is stored as its index, compared as a number and
//! written from the table, so a parsed head keeps no copy of it.

/// Makes [`Known`] and [`NAMES`] from one list, so they cannot disagree.
macro_rules! interned {
    ($($variant:ident = $name:literal,)*) => {
        /// A field name the edge interns, named ahead of time: looking one
        /// up in [`Fields`](super::Fields) compares a number, with no
        /// string work (`fields.get(Known::CacheControl)`). Any name also
        /// works as a string, found in the table when it is in it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u8)]
        #[non_exhaustive]
        pub enum Known {
            $(
                #[doc = concat!("`", $name, "`")]
                $variant,
            )*
        }

        /// The interned names, lowercase, in [`Known`]'s order.
        pub(super) const NAMES: &[&str] = &[$($name),*];
    };
}

interned! {
    Host = "host",
    UserAgent = "user-agent",
    Accept = "accept",
    AcceptEncoding = "accept-encoding",
    AcceptLanguage = "accept-language",
    Connection = "connection",
    ContentLength = "content-length",
    ContentType = "content-type",
    TransferEncoding = "transfer-encoding",
    CacheControl = "cache-control",
    Date = "date",
    Etag = "etag",
    LastModified = "last-modified",
    Expires = "expires",
    Age = "age",
    Vary = "vary",
    Server = "server",
    SetCookie = "set-cookie",
    Cookie = "cookie",
    IfNoneMatch = "if-none-match",
    IfModifiedSince = "if-modified-since",
    Range = "range",
    ContentRange = "content-range",
    ContentEncoding = "content-encoding",
    Location = "location",
    XForwardedFor = "x-forwarded-for",
    XForwardedProto = "x-forwarded-proto",
    XForwardedHost = "x-forwarded-host",
    XRealIp = "x-real-ip",
    Via = "via",
    KeepAlive = "keep-alive",
    Upgrade = "upgrade",
    Te = "te",
    Trailer = "trailer",
    Pragma = "pragma",
    Authorization = "authorization",
    Referer = "referer",
    Origin = "origin",
    AcceptRanges = "accept-ranges",
    StrictTransportSecurity = "strict-transport-security",
    XRequestId = "x-request-id",
    CdnCacheControl = "cdn-cache-control",
    SurrogateControl = "surrogate-control",
    IfRange = "if-range",
    IfMatch = "if-match",
    IfUnmodifiedSince = "if-unmodified-since",
    Expect = "expect",
    Forwarded = "forwarded",
    ProxyConnection = "proxy-connection",
    ProxyAuthenticate = "proxy-authenticate",
    ProxyAuthorization = "proxy-authorization",
    WwwAuthenticate = "www-authenticate",
    ContentDisposition = "content-disposition",
    ContentLanguage = "content-language",
    ContentLocation = "content-location",
    AccessControlAllowOrigin = "access-control-allow-origin",
    XContentTypeOptions = "x-content-type-options",
    XFrameOptions = "x-frame-options",
    SecFetchMode = "sec-fetch-mode",
    SecFetchSite = "sec-fetch-site",
    SecFetchDest = "sec-fetch-dest",
    UpgradeInsecureRequests = "upgrade-insecure-requests",
    Dnt = "dnt",
    CacheStatus = "cache-status",
    XCache = "x-cache",
    SurrogateKey = "surrogate-key",
    CacheTag = "cache-tag",
}

impl Known {
    /// The name, lowercase.
    pub fn as_str(self) -> &'static str {
        NAMES[self as usize]
    }
}

/// A field name as [`Fields`](super::Fields) takes it: a [`Known`] name,
/// or any string or bytes (compared case-insensitively).
pub trait FieldName {
    /// The name's index among the interned ones, if it is one.
    fn interned(&self) -> Option<u8>;
    /// The name's bytes.
    fn name_bytes(&self) -> &[u8];
}

impl FieldName for Known {
    fn interned(&self) -> Option<u8> {
        Some(*self as u8)
    }
    fn name_bytes(&self) -> &[u8] {
        self.as_str().as_bytes()
    }
}

impl FieldName for str {
    fn interned(&self) -> Option<u8> {
        lookup(self.as_bytes())
    }
    fn name_bytes(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl FieldName for [u8] {
    fn interned(&self) -> Option<u8> {
        lookup(self)
    }
    fn name_bytes(&self) -> &[u8] {
        self
    }
}

impl FieldName for String {
    fn interned(&self) -> Option<u8> {
        lookup(self.as_bytes())
    }
    fn name_bytes(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl<T: FieldName + ?Sized> FieldName for &T {
    fn interned(&self) -> Option<u8> {
        (**self).interned()
    }
    fn name_bytes(&self) -> &[u8] {
        (**self).name_bytes()
    }
}

/// The interned names as `http` header names, for conversions.
pub(super) static HTTP_NAMES: std::sync::LazyLock<Vec<http::HeaderName>> =
    std::sync::LazyLock::new(|| NAMES.iter().map(|n| http::HeaderName::from_static(n)).collect());

/// Longest interned name.
const LONGEST: usize = 27;

/// An open-addressed table of [`NAMES`] by a hash of a name's length and
/// its first and last bytes (lowercase): a lookup costs one or two
/// comparisons. Built at compile time; `EMPTY` marks a free slot.
const SLOTS: [u8; 256] = slots();
const EMPTY: u8 = u8::MAX;

const fn slot(len: usize, first: u8, last: u8) -> usize {
    (len * 31 + first as usize * 7 + last as usize) & 255
}

const fn slots() -> [u8; 256] {
    let mut table = [EMPTY; 256];
    let mut i = 0;
    while i < NAMES.len() {
        let n = NAMES[i].as_bytes();
        let mut at = slot(n.len(), n[0], n[n.len() - 1]);
        while table[at] != EMPTY {
            at = (at + 1) & 255;
        }
        table[at] = i as u8;
        i += 1;
    }
    table
}

/// The index of `name` (any case) in [`NAMES`].
pub(super) fn lookup(name: &[u8]) -> Option<u8> {
    let (Some(first), Some(last)) = (name.first(), name.last()) else {
        return None;
    };
    if name.len() > LONGEST {
        return None;
    }
    let mut at = slot(name.len(), first.to_ascii_lowercase(), last.to_ascii_lowercase());
    loop {
        let index = SLOTS[at];
        let known = NAMES.get(usize::from(index))?;
        if known.as_bytes().eq_ignore_ascii_case(name) {
            return Some(index);
        }
        at = (at + 1) & 255;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_name_is_found_in_any_case_and_only_its_own() {
        for (i, name) in NAMES.iter().enumerate() {
            assert_eq!(lookup(name.as_bytes()), Some(i as u8), "{name}");
            assert_eq!(lookup(name.to_ascii_uppercase().as_bytes()), Some(i as u8), "{name}");
            assert!(name.len() <= LONGEST && name.bytes().all(|b| !b.is_ascii_uppercase()));
        }
        assert_eq!(lookup(b"x-custom"), None);
        assert_eq!(lookup(b"hos"), None);
        assert_eq!(lookup(b""), None);
        assert_eq!(lookup(&[b'a'; 300]), None);
    }
}
