//! Where a store is, as `--store` names it: a Redis URL, or the directory
//! of an embedded store. A location that looks like a URL of a scheme
//! Cirrus does not know is refused, never taken for a directory named
//! after it (a typo such as `redi://…` would otherwise run on an empty
//! private store that no other role sees).

use crate::{Error, Result};
use std::path::PathBuf;

/// The schemes of a Redis store.
const REDIS: [&str; 4] = ["redis://", "rediss://", "redis+unix://", "redis+sentinel://"];
/// What `StoreLocation::parse` knows, for its errors.
const KNOWN: &str =
    "redis://, rediss:// or redis+unix:// for Redis; a path, file:PATH or embedded:PATH for the embedded store";

/// A parsed store location.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreLocation {
    /// A Redis URL (`redis://`, `rediss://`, `redis+unix://`,
    /// `redis+sentinel://`).
    Redis(String),
    /// The data directory of an embedded store: a path, or `file:PATH` /
    /// `embedded:PATH` (also `file:///abs/path`).
    Embedded(PathBuf),
}

impl StoreLocation {
    /// Reads `spec`, refusing an empty one and any `scheme://` it does not
    /// know (naming the known ones).
    pub fn parse(spec: &str) -> Result<Self> {
        let spec = spec.trim();
        if spec.is_empty() {
            return Err(Error::backend(format!("empty store location: give {KNOWN}"), None));
        }
        if REDIS.iter().any(|s| spec.starts_with(s)) {
            return Ok(StoreLocation::Redis(spec.to_string()));
        }
        for prefix in ["file://", "file:", "embedded:"] {
            if let Some(path) = spec.strip_prefix(prefix) {
                if path.is_empty() {
                    return Err(Error::backend(format!("{spec:?} names no directory"), None));
                }
                return Ok(StoreLocation::Embedded(PathBuf::from(path)));
            }
        }
        if let Some((scheme, _)) = spec.split_once("://")
            && !scheme.is_empty()
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        {
            return Err(Error::backend(
                format!("unknown store scheme {scheme:?}: give {KNOWN}"),
                None,
            ));
        }
        Ok(StoreLocation::Embedded(PathBuf::from(spec)))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn locations_are_redis_urls_or_directories_and_nothing_else() {
        assert_eq!(
            StoreLocation::parse("redis://127.0.0.1:6379/0").unwrap(),
            StoreLocation::Redis("redis://127.0.0.1:6379/0".into())
        );
        assert!(matches!(
            StoreLocation::parse("rediss://h:1").unwrap(),
            StoreLocation::Redis(_)
        ));
        assert!(matches!(
            StoreLocation::parse("redis+unix:///run/redis.sock").unwrap(),
            StoreLocation::Redis(_)
        ));
        assert_eq!(
            StoreLocation::parse("redis+sentinel://a:26379,b:26379/mymaster").unwrap(),
            StoreLocation::Redis("redis+sentinel://a:26379,b:26379/mymaster".into())
        );
        for (spec, dir) in [
            ("./cirrus-data", "./cirrus-data"),
            ("/var/lib/cirrus", "/var/lib/cirrus"),
            ("file:data", "data"),
            ("file:///var/lib/cirrus", "/var/lib/cirrus"),
            ("embedded:/srv/c", "/srv/c"),
            ("dir with: colon", "dir with: colon"),
        ] {
            assert_eq!(
                StoreLocation::parse(spec).unwrap(),
                StoreLocation::Embedded(dir.into()),
                "{spec}"
            );
        }
        for bad in [
            "redi://localhost",
            "redis+sentinal://h:26379/m",
            "postgres://x",
            "http://redis:6379",
            "",
            "file:",
        ] {
            let e = StoreLocation::parse(bad).unwrap_err().to_string();
            assert!(e.contains("redis://") || e.contains("no directory"), "{bad}: {e}");
        }
    }
}
