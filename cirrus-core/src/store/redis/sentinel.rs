//! Redis Sentinel: `redis+sentinel://[user:password@]host1:port1,host2:port2/<master>[?db=N&tls=true&acks=1&ack_timeout_ms=1000]`.
//! The master is asked of the sentinels (the `redis` crate's sentinel
//! client, which checks the answer with `ROLE`) when the store is built
//! (failing then with what went wrong), and again every half second: when
//! the sentinels name another master, the store's connection moves to it.
//! The credentials, database and TLS apply to the master; the sentinels are
//! reached without credentials (with TLS when `tls=true`).

use super::*;
use redis::sentinel::{SentinelClient, SentinelNodeConnectionInfo, SentinelServerType};
use redis::{RedisConnectionInfo, TlsMode};
use std::sync::Weak;

/// How often the sentinels are asked which server is the master.
const FOLLOW_EVERY: Duration = Duration::from_millis(500);

/// A parsed `redis+sentinel://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SentinelUrl {
    pub(super) sentinels: Vec<String>,
    pub(super) master: String,
    username: Option<String>,
    password: Option<String>,
    db: i64,
    tls: bool,
    /// Replicas a write waits for, and how long (`acks`, `ack_timeout_ms`).
    pub(super) acks: (usize, Duration),
}

impl SentinelUrl {
    /// Parses `url`, or says what is wrong with it.
    pub(super) fn parse(url: &str) -> Result<Self> {
        let bad = |why: &str| {
            Error::backend(
                format!(
                    "bad Sentinel URL ({why}): redis+sentinel://[user:password@]host:port[,host:port…]/<master>[?db=N&tls=true&acks=N&ack_timeout_ms=N]"
                ),
                None,
            )
        };
        let rest = url.strip_prefix("redis+sentinel://").ok_or_else(|| bad("scheme"))?;
        let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (authority, master) = rest.split_once('/').ok_or_else(|| bad("no master name"))?;
        let master = master.trim_end_matches('/');
        if master.is_empty() || master.contains('/') {
            return Err(bad("no master name"));
        }
        let (credentials, hosts) = match authority.rsplit_once('@') {
            Some((c, h)) => (Some(c), h),
            None => (None, authority),
        };
        let (username, password) = match credentials {
            None => (None, None),
            Some(c) => match c.split_once(':') {
                Some((u, p)) => ((!u.is_empty()).then(|| u.to_string()), Some(p.to_string())),
                None => (Some(c.to_string()), None),
            },
        };
        let sentinels: Vec<String> = hosts
            .split(',')
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .map(String::from)
            .collect();
        if sentinels.is_empty() {
            return Err(bad("no sentinel"));
        }
        for s in &sentinels {
            let port = s
                .rsplit_once(':')
                .map(|(_, p)| p)
                .ok_or_else(|| bad("a sentinel without its port"))?;
            port.parse::<u16>()
                .map_err(|_| bad("a sentinel's port is not a number"))?;
        }
        let (mut db, mut tls, mut acks) = (0, false, (1, Duration::from_secs(1)));
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("db", v)) => db = v.parse().map_err(|_| bad("db is not a number"))?,
                Some(("tls", v)) => tls = v == "true",
                Some(("acks", v)) => acks.0 = v.parse().map_err(|_| bad("acks is not a number"))?,
                Some(("ack_timeout_ms", v)) => {
                    acks.1 = Duration::from_millis(v.parse().map_err(|_| bad("ack_timeout_ms is not a number"))?)
                }
                _ => return Err(bad("unknown parameter")),
            }
        }
        Ok(Self {
            sentinels,
            master: master.to_string(),
            username,
            password,
            db,
            tls,
            acks,
        })
    }

    /// The crate's sentinel client for this URL.
    fn client(&self) -> Result<SentinelClient> {
        let scheme = if self.tls { "rediss" } else { "redis" };
        let nodes: Vec<String> = self.sentinels.iter().map(|s| format!("{scheme}://{s}")).collect();
        let mut redis = RedisConnectionInfo::default().set_db(self.db);
        if let Some(u) = &self.username {
            redis = redis.set_username(u);
        }
        if let Some(p) = &self.password {
            redis = redis.set_password(p);
        }
        let mut info = SentinelNodeConnectionInfo::default().set_redis_connection_info(redis);
        if self.tls {
            info = info.set_tls_mode(TlsMode::Secure);
        }
        SentinelClient::build(nodes, &self.master, Some(info), SentinelServerType::Master)
            .map_err(|e| Error::backend(format!("Sentinel URL: {e}"), Some(e.into())))
    }
}

/// How long a role starting asks the sentinels before it gives up: during
/// a failover they may name no usable master for a moment.
const RESOLVE_FOR: Duration = Duration::from_secs(5);

/// Asks the sentinels for the master, blocking (the store is being built),
/// again every half second for [`RESOLVE_FOR`]: its client, or what failed
/// (no sentinel answering, an unknown master name, a master refusing the
/// credentials).
pub(super) fn resolve_now(url: &SentinelUrl) -> Result<(SentinelClient, Client)> {
    let deadline = std::time::Instant::now() + RESOLVE_FOR;
    loop {
        match resolve_once(url) {
            Err(e) if std::time::Instant::now() < deadline => {
                tracing::debug!(error = %e, "no usable master from the sentinels yet; asking again");
                std::thread::sleep(Duration::from_millis(500));
            }
            resolved => return resolved,
        }
    }
}

fn resolve_once(url: &SentinelUrl) -> Result<(SentinelClient, Client)> {
    let mut sentinel = url.client()?;
    let client = sentinel.get_client().map_err(|e| {
        Error::unavailable(
            format!(
                "no master {:?} from the sentinels {}: {e}",
                url.master,
                url.sentinels.join(",")
            ),
            Some(e.into()),
        )
    })?;
    // Reached once, with the credentials: a refusal is said now, not at the first write.
    let mut conn = client
        .get_connection_with_timeout(Duration::from_secs(5))
        .map_err(|e| Error::unavailable(format!("the master {:?} refused us: {e}", url.master), Some(e.into())))?;
    cmd("PING")
        .query::<String>(&mut conn)
        .map_err(|e| Error::unavailable(format!("the master {:?} refused us: {e}", url.master), Some(e.into())))?;
    Ok((sentinel, client))
}

/// Follows the master the sentinels name until the store is dropped.
pub(super) async fn follow(store: Weak<Inner>, mut sentinel: SentinelClient) {
    let mut tick = tokio::time::interval(FOLLOW_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(inner) = store.upgrade() else { return };
        let asked = tokio::time::timeout(inner.config.connection_timeout * 2, sentinel.async_get_client()).await;
        let client = match asked {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "no master from the sentinels; asking again");
                continue;
            }
            Err(_) => {
                tracing::debug!("the sentinels did not answer in time; asking again");
                continue;
            }
        };
        let now = client.get_connection_info().addr().to_string();
        let before = inner.link().client.get_connection_info().addr().to_string();
        if now != before {
            match Link::new(client, &inner.config) {
                Ok(link) => {
                    tracing::info!(from = %before, to = %now, "the Redis master moved: following it");
                    inner.set_link(link);
                }
                Err(e) => tracing::warn!(error = %e, "cannot connect to the new master; asking again"),
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn sentinel_urls_name_the_sentinels_the_master_and_the_options() {
        let u = SentinelUrl::parse(
            "redis+sentinel://cirrus:s3cret@a:26379,b:26380/mymaster?db=2&tls=true&acks=2&ack_timeout_ms=500",
        )
        .unwrap();
        assert_eq!(u.sentinels, ["a:26379", "b:26380"]);
        assert_eq!(u.master, "mymaster");
        assert_eq!(
            (u.username.as_deref(), u.password.as_deref()),
            (Some("cirrus"), Some("s3cret"))
        );
        assert_eq!((u.db, u.tls, u.acks), (2, true, (2, Duration::from_millis(500))));
        let plain = SentinelUrl::parse("redis+sentinel://:pw@a:1/m").unwrap();
        assert_eq!(
            (plain.username, plain.password.as_deref(), plain.acks.0),
            (None, Some("pw"), 1)
        );
        for bad in [
            "redis+sentinel://a:1",
            "redis+sentinel://a:1/",
            "redis+sentinel:///m",
            "redis+sentinel://a/m",
            "redis+sentinel://a:x/m",
            "redis+sentinel://a:1/m?colour=red",
            "redis+sentinel://a:1/m?db=two",
        ] {
            assert!(SentinelUrl::parse(bad).is_err(), "{bad}");
        }
    }
}
