//! The credential a shield request carries: `Cirrus-Shield: NODE TIME SIG`,
//! where `SIG` is the hex HMAC-SHA256, under the cluster secret, of the
//! node id, the Unix time in seconds, the method, the domain and the
//! target. The secret never travels; a captured header is good for the
//! same request only, within [`WINDOW_SECS`] of its time.

use aws_lc_rs::hmac;

/// How far a credential's time may be from this edge's clock.
pub(crate) const WINDOW_SECS: u64 = 120;

/// The cluster secret as a signing key.
#[derive(Debug)]
pub(crate) struct Credentials {
    key: hmac::Key,
}

/// What a request names: method, domain and target (path and query).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Signed<'a> {
    pub(crate) method: &'a str,
    pub(crate) domain: &'a str,
    pub(crate) target: &'a str,
}

impl Credentials {
    pub(crate) fn new(secret: &str) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes()),
        }
    }

    fn mac(&self, node: &str, time: u64, what: Signed<'_>) -> hmac::Tag {
        let mut ctx = hmac::Context::with_key(&self.key);
        for part in [
            node.as_bytes(),
            time.to_string().as_bytes(),
            what.method.as_bytes(),
            what.domain.as_bytes(),
        ] {
            ctx.update(part);
            ctx.update(b"\n");
        }
        ctx.update(what.target.as_bytes());
        ctx.sign()
    }

    /// The header value for a request from `node` at `now` (Unix seconds).
    pub(crate) fn sign(&self, node: &str, now: u64, what: Signed<'_>) -> String {
        let tag = self.mac(node, now, what);
        format!("{node} {now} {}", cirrus_core::auth::hex(tag.as_ref()))
    }

    /// The node that signed `value` for `what`, or why it is refused.
    pub(crate) fn verify<'v>(&self, value: &'v [u8], now: u64, what: Signed<'_>) -> Result<&'v str, &'static str> {
        let value = std::str::from_utf8(value).map_err(|_| "not text")?;
        let mut parts = value.split(' ');
        let (Some(node), Some(time), Some(sig), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err("not NODE TIME SIGNATURE");
        };
        let time: u64 = time.parse().map_err(|_| "the time is not a number")?;
        if time.abs_diff(now) > WINDOW_SECS {
            return Err("the time is too far from this edge's clock");
        }
        let expected = cirrus_core::auth::hex(self.mac(node, time, what).as_ref());
        // In constant time, as aws-lc-rs's own verify compares (the
        // signature is the lowercase hex `sign` writes).
        if aws_lc_rs::constant_time::verify_slices_are_equal(expected.as_bytes(), sig.as_bytes()).is_err() {
            return Err("the signature does not match");
        }
        Ok(node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WHAT: Signed<'static> = Signed {
        method: "GET",
        domain: "example.com",
        target: "/a?b=1",
    };

    #[test]
    fn a_signature_verifies_for_its_request_only() {
        let c = Credentials::new("s3cret");
        let v = c.sign("edge-a", 1_000_000, WHAT);
        assert_eq!(c.verify(v.as_bytes(), 1_000_000, WHAT), Ok("edge-a"));
        assert_eq!(c.verify(v.as_bytes(), 1_000_000 + WINDOW_SECS, WHAT), Ok("edge-a"));
        let other = Signed {
            target: "/a?b=2",
            ..WHAT
        };
        assert_eq!(
            c.verify(v.as_bytes(), 1_000_000, other),
            Err("the signature does not match")
        );
        let head = Signed { method: "HEAD", ..WHAT };
        assert!(c.verify(v.as_bytes(), 1_000_000, head).is_err());
        assert!(
            c.verify(v.as_bytes(), 1_000_000 + WINDOW_SECS + 1, WHAT).is_err(),
            "stale"
        );
        assert!(
            Credentials::new("other").verify(v.as_bytes(), 1_000_000, WHAT).is_err(),
            "another cluster"
        );
        let forged = v.replace("edge-a", "edge-b");
        assert!(
            c.verify(forged.as_bytes(), 1_000_000, WHAT).is_err(),
            "the node is signed"
        );
        for bad in [
            "",
            "edge-a",
            "edge-a 1000000",
            "edge-a x 00",
            "edge-a 1000000 zz",
            "a b c d",
        ] {
            assert!(c.verify(bad.as_bytes(), 1_000_000, WHAT).is_err(), "{bad:?}");
        }
        assert!(c.verify(b"\xff\xfe", 1_000_000, WHAT).is_err());
    }
}
