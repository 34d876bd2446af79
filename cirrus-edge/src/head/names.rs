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
    XHttpMethodOverride = "x-http-method-override",
    XHttpMethod = "x-http-method",
    XMethodOverride = "x-method-override",
    CdnLoop = "cdn-loop",
    CirrusShield = "cirrus-shield",
}

impl Known {
    /// The name, lowercase.
    pub fn as_str(self) -> &'static str {
        NAMES[self as usize]
    }
}

/// A set of [`Known`] names, one bit each: what [`Fields`](super::Fields)
/// drops or looks for in one pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct KnownSet(pub(super) u128);

impl KnownSet {
    /// The set of `names`.
    pub(crate) const fn of(names: &[Known]) -> Self {
        let mut bits = 0;
        let mut i = 0;
        while i < names.len() {
            bits |= 1 << names[i] as u8;
            i += 1;
        }
        Self(bits)
    }

    /// Whether the name at `index` in [`NAMES`] is in the set.
    pub(crate) const fn has_index(self, index: u8) -> bool {
        self.0 & (1 << index) != 0
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

/// A name of at most 32 bytes, lowercase and zero-padded, as four words:
/// two names compare as four numbers.
type Words = [u64; 4];

/// The interned names as [`Words`], in [`NAMES`]' order.
const WORDS: [Words; NAMES.len()] = table_words();

const fn table_words() -> [Words; NAMES.len()] {
    let mut table = [[0; 4]; NAMES.len()];
    let mut i = 0;
    while i < NAMES.len() {
        let n = NAMES[i].as_bytes();
        let mut b = 0;
        while b < n.len() {
            table[i][b / 8] |= (n[b] as u64) << (8 * (b % 8));
            b += 1;
        }
        i += 1;
    }
    table
}

/// An open-addressed table of [`NAMES`] by a hash of a name's length and
/// its first and last bytes (lowercase): a lookup costs one or two
/// comparisons of four words. Built at compile time; `EMPTY` marks a free
/// slot.
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

/// The ASCII letters of eight bytes lowercased at once; every other byte
/// (digits, punctuation, non-ASCII) as it was.
const fn lowercase(x: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let low7 = x & (0x7f * ONES);
    // Bit 7 of each byte: its low seven bits are at least `A`, above `Z`.
    let from_a = low7 + (0x80 - b'A' as u64) * ONES;
    let past_z = low7 + (0x7f - b'Z' as u64) * ONES;
    let upper = from_a & !past_z & !x & (0x80 * ONES);
    x | (upper >> 2)
}

/// The index of `name` (any case) in [`NAMES`].
pub(crate) fn lookup(name: &[u8]) -> Option<u8> {
    let len = name.len();
    if len == 0 || len > LONGEST {
        return None;
    }
    let mut padded = [0u8; 32];
    padded[..len].copy_from_slice(name);
    let mut words: Words = [0; 4];
    for (word, bytes) in words.iter_mut().zip(padded.chunks_exact(8)) {
        let mut eight = [0u8; 8];
        eight.copy_from_slice(bytes);
        *word = lowercase(u64::from_le_bytes(eight));
    }
    let byte = |i: usize| (words[i / 8] >> (8 * (i % 8))) as u8;
    let mut at = slot(len, byte(0), byte(len - 1));
    loop {
        let index = SLOTS[at];
        let known = WORDS.get(usize::from(index))?;
        if *known == words && NAMES[usize::from(index)].len() == len {
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
        // Bytes one bit away from a letter's case are not that letter.
        assert_eq!(lookup(b"hos\x14"), None);
        assert_eq!(lookup(b"x^cache"), None);
        assert_eq!(lookup(b"x\rcache"), None);
        assert_eq!(lookup("hos\u{f4}".as_bytes()), None);
        for n in 0u8..=255 {
            let lower = n.to_ascii_lowercase();
            assert_eq!(
                lowercase(u64::from(n) * 0x0101_0101_0101_0101),
                u64::from(lower) * 0x0101_0101_0101_0101,
                "{n}"
            );
        }
    }
}
