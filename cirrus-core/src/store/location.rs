//! Where a store is, as `--store` names it: a Redis URL, or the directory
//! of an embedded store. A location that looks like a URL of a scheme
//! Cirrus does not know is refused, never taken for a directory named
//! after it (a typo such as `redi://…` would otherwise run on an empty
//! private store that no other role sees).
//!
//! An embedded store named with `file:` or `embedded:` may carry its
//! memory and retention settings as a query:
//! `embedded:/var/lib/cirrus?cache=8MiB&purge_records=1000&events=50000&audit=50000`
//! (a bare path is taken whole, `?` included).

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
    /// `embedded:PATH` (also `file:///abs/path`), with the settings its
    /// query gave.
    Embedded {
        /// The data directory.
        dir: PathBuf,
        /// What the query set; the rest keeps the builder's defaults.
        settings: EmbeddedSettings,
    },
}

/// The settings an embedded store's location may carry (each `None`
/// keeps the default of [`EmbeddedStoreBuilder`](crate::EmbeddedStoreBuilder)).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct EmbeddedSettings {
    /// `cache=SIZE`: memory for the database's page cache (`B`, `KiB`,
    /// `MiB`, `GiB` suffixes; at least 1 MiB).
    pub cache_bytes: Option<usize>,
    /// `purge_records=N`: purge records kept for acknowledgements.
    pub purge_records: Option<usize>,
    /// `events=N`: events kept.
    pub events: Option<usize>,
    /// `audit=N`: audit records kept.
    pub audit: Option<usize>,
}

impl EmbeddedSettings {
    /// Reads `key=value&…`, refusing an unknown key or a bad value.
    fn parse(query: &str) -> Result<Self> {
        let mut settings = Self::default();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let bad = |what: &str| Error::backend(format!("store setting {pair:?}: {what}"), None);
            let count = || {
                value
                    .parse::<usize>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| bad("expected a positive number"))
            };
            match key {
                "cache" => {
                    let bytes = crate::units::parse_size(value).map_err(|e| bad(&e))?;
                    let bytes = usize::try_from(bytes).map_err(|_| bad("too large"))?;
                    if bytes < super::MIN_STORE_CACHE {
                        return Err(bad("the page cache takes at least 1MiB"));
                    }
                    settings.cache_bytes = Some(bytes);
                }
                "purge_records" => settings.purge_records = Some(count()?),
                "events" => settings.events = Some(count()?),
                "audit" => settings.audit = Some(count()?),
                _ => return Err(bad("unknown setting (cache, purge_records, events, audit)")),
            }
        }
        Ok(settings)
    }

    /// A builder of the store in `dir` with these settings.
    #[cfg(feature = "embedded")]
    pub(crate) fn builder(&self, dir: PathBuf) -> crate::EmbeddedStoreBuilder {
        let mut b = crate::EmbeddedStoreBuilder::new(dir);
        if let Some(n) = self.cache_bytes {
            b = b.cache_bytes(n);
        }
        if let Some(n) = self.purge_records {
            b = b.purge_records(n);
        }
        if let Some(n) = self.events {
            b = b.events_len(n);
        }
        if let Some(n) = self.audit {
            b = b.audit_len(n);
        }
        b
    }
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
                let (path, query) = path.split_once('?').unwrap_or((path, ""));
                if path.is_empty() {
                    return Err(Error::backend(format!("{spec:?} names no directory"), None));
                }
                return Ok(StoreLocation::Embedded {
                    dir: PathBuf::from(path),
                    settings: EmbeddedSettings::parse(query)?,
                });
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
        Ok(StoreLocation::Embedded {
            dir: PathBuf::from(spec),
            settings: EmbeddedSettings::default(),
        })
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
                StoreLocation::Embedded {
                    dir: dir.into(),
                    settings: EmbeddedSettings::default()
                },
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
            "file:?cache=8MiB",
        ] {
            let e = StoreLocation::parse(bad).unwrap_err().to_string();
            assert!(e.contains("redis://") || e.contains("no directory"), "{bad}: {e}");
        }
    }

    #[test]
    fn an_embedded_location_carries_its_settings() {
        let StoreLocation::Embedded { dir, settings } =
            StoreLocation::parse("embedded:/srv/c?cache=8MiB&purge_records=600&events=10&audit=20").unwrap()
        else {
            panic!("not embedded");
        };
        assert_eq!(dir, PathBuf::from("/srv/c"));
        assert_eq!(
            (
                settings.cache_bytes,
                settings.purge_records,
                settings.events,
                settings.audit
            ),
            (Some(8 << 20), Some(600), Some(10), Some(20))
        );
        // A bare path keeps its `?`: only a named embedded store has a query.
        assert!(matches!(
            StoreLocation::parse("./data?x").unwrap(),
            StoreLocation::Embedded { dir, settings } if dir == std::path::Path::new("./data?x") && settings == EmbeddedSettings::default()
        ));
        // Each setting reaches its own knob of the builder.
        #[cfg(feature = "embedded")]
        assert_eq!(
            format!("{:?}", settings.builder(dir.clone())),
            format!(
                "{:?}",
                crate::EmbeddedStoreBuilder::new(dir)
                    .cache_bytes(8 << 20)
                    .purge_records(600)
                    .events_len(10)
                    .audit_len(20)
            )
        );
        for (bad, says) in [
            ("file:d?cache=1KiB", "at least 1MiB"),
            ("file:d?cache=lots", "not a size"),
            ("file:d?purge_records=0", "positive"),
            ("file:d?events=-1", "positive"),
            ("file:d?colour=blue", "unknown setting"),
        ] {
            let e = StoreLocation::parse(bad).unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }
}
