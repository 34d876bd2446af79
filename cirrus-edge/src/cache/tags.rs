//! Surrogate keys (tags) read from an origin response: the domain's tag
//! fields (`Surrogate-Key` and `Cache-Tag` unless it names others), each
//! value split on spaces and commas. A tag longer than [`MAX_TAG_LEN`]
//! bytes, or lying past the first [`MAX_FIELD_LEN`] bytes of a field, is
//! ignored and counted; repeated tags are kept once.

use crate::head::Fields;

pub(crate) use cirrus_core::model::MAX_TAG_LEN;

/// The bytes of one tag field read for tags (its lines together).
pub(crate) const MAX_FIELD_LEN: usize = 16 * 1024;

/// The tags of a response with `headers`, read from the fields `names`,
/// and how many were ignored for the limits.
pub(crate) fn extract<S: AsRef<str>>(headers: &Fields, names: &[S]) -> (Vec<String>, u64) {
    let mut tags: Vec<String> = Vec::new();
    let mut ignored = 0;
    for name in names {
        let mut read = 0;
        for value in headers.get_all(name.as_ref()) {
            let Some(value) = std::str::from_utf8(value).ok().filter(|v| v.is_ascii()) else {
                ignored += 1;
                continue;
            };
            for tag in value.split([' ', ',', '\t']).filter(|t| !t.is_empty()) {
                // Where this tag ends in the field (a separator between lines).
                let end = read + tag.len();
                read = end + 1;
                if tag.len() > MAX_TAG_LEN || end > MAX_FIELD_LEN {
                    ignored += 1;
                } else if !tags.iter().any(|t| t == tag) {
                    tags.push(tag.to_string());
                }
            }
        }
    }
    (tags, ignored)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::head::fields as headers;

    #[test]
    fn spaces_and_commas_separate_tags_in_every_named_field() {
        let h = headers(&[("surrogate-key", "a b,c"), ("cache-tag", "c, d"), ("x-tags", "e")]);
        let (tags, ignored) = extract(&h, &["Surrogate-Key", "Cache-Tag"]);
        assert_eq!(tags, ["a", "b", "c", "d"]);
        assert_eq!(ignored, 0);
        let (tags, _) = extract(&h, &["x-tags"]);
        assert_eq!(tags, ["e"]);
    }

    #[test]
    fn long_tags_and_tags_past_the_field_limit_are_ignored_and_counted() {
        let long = "x".repeat(MAX_TAG_LEN + 1);
        let exact = "y".repeat(MAX_TAG_LEN);
        let h = headers(&[("cache-tag", &format!("a {long} {exact}"))]);
        let (tags, ignored) = extract(&h, &["cache-tag"]);
        assert_eq!(tags, ["a".to_string(), exact]);
        assert_eq!(ignored, 1);

        // 20 KiB of 9-byte tags (8 characters and a space): tag i ends at
        // byte 9i + 8, so the 1,820 first ones (i <= 1819) fit in 16 KiB.
        let many: Vec<String> = (0..2276).map(|i| format!("t{i:07}")).collect();
        let h = headers(&[("surrogate-key", &many.join(" "))]);
        let (tags, ignored) = extract(&h, &["surrogate-key"]);
        assert_eq!(tags.len(), 1820);
        assert_eq!(tags.len() as u64 + ignored, 2276);
        assert_eq!(tags.last().map(String::as_str), Some("t0001819"));
    }
}
