//! Standard Webhooks signatures: what the worker sends and what a
//! receiver checks.
//!
//! A secret is `whsec_` and a base64 key; a signature is `v1,` and the
//! base64 HMAC-SHA256, under that key, of `{webhook-id}.{webhook-timestamp}.{body}`.
//! The `webhook-signature` header carries one signature per active secret,
//! separated by spaces (two during a rotation's overlap); a receiver
//! accepts the message when any of them verifies with its secret and the
//! timestamp is recent.
//!
//! ```
//! use cirrus_core::webhook::{new_secret, signature_header, verify};
//!
//! let secret = new_secret();
//! let body = br#"{"type":"purge.completed"}"#;
//! let header = signature_header(&[secret.as_str()], "1733480000000-0", 1_733_480_000, body)?;
//! verify(&secret, "1733480000000-0", "1733480000", &header, body, 1_733_480_010, 300)?;
//! # Ok::<(), cirrus_core::Error>(())
//! ```

use crate::{Error, Result};
use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// A new random secret: `whsec_` and 24 random bytes in base64.
pub fn new_secret() -> String {
    let mut key = [0u8; 24];
    // The system's random source failing is not something to limp on.
    #[allow(clippy::expect_used)]
    aws_lc_rs::rand::fill(&mut key).expect("the system random source answers");
    format!("whsec_{}", STANDARD.encode(key))
}

fn key(secret: &str) -> Result<hmac::Key> {
    let encoded = secret.strip_prefix("whsec_").unwrap_or(secret);
    let raw = STANDARD
        .decode(encoded)
        .map_err(|_| Error::Signature("the secret is not whsec_ and base64".into()))?;
    Ok(hmac::Key::new(hmac::HMAC_SHA256, &raw))
}

fn signed_content(id: &str, timestamp: &str, body: &[u8]) -> Vec<u8> {
    let mut content = Vec::with_capacity(id.len() + timestamp.len() + body.len() + 2);
    content.extend_from_slice(id.as_bytes());
    content.push(b'.');
    content.extend_from_slice(timestamp.as_bytes());
    content.push(b'.');
    content.extend_from_slice(body);
    content
}

/// One signature, `v1,<base64>`, of `body` sent as message `id` at
/// `timestamp` (Unix seconds).
pub fn sign(secret: &str, id: &str, timestamp: u64, body: &[u8]) -> Result<String> {
    let tag = hmac::sign(&key(secret)?, &signed_content(id, &timestamp.to_string(), body));
    Ok(format!("v1,{}", STANDARD.encode(tag.as_ref())))
}

/// The `webhook-signature` header: one signature per secret, space-separated.
pub fn signature_header(secrets: &[&str], id: &str, timestamp: u64, body: &[u8]) -> Result<String> {
    let signed: Vec<String> = secrets
        .iter()
        .map(|s| sign(s, id, timestamp, body))
        .collect::<Result<_>>()?;
    Ok(signed.join(" "))
}

/// Checks a message as a receiver does: `timestamp` (the header's text)
/// within `tolerance_secs` of `now`, and one of the header's `v1`
/// signatures made with `secret` (compared in constant time).
/// [`Error::Signature`] says what failed.
pub fn verify(
    secret: &str,
    id: &str,
    timestamp: &str,
    signatures: &str,
    body: &[u8],
    now: u64,
    tolerance_secs: u64,
) -> Result<()> {
    let sent: u64 = timestamp
        .parse()
        .map_err(|_| Error::Signature(format!("webhook-timestamp {timestamp:?} is not Unix seconds")))?;
    if sent.abs_diff(now) > tolerance_secs {
        return Err(Error::Signature(format!(
            "webhook-timestamp {sent} is more than {tolerance_secs} s from now ({now})"
        )));
    }
    let key = key(secret)?;
    let content = signed_content(id, timestamp, body);
    let matched = signatures.split(' ').any(|sig| {
        sig.strip_prefix("v1,")
            .and_then(|b64| STANDARD.decode(b64).ok())
            .is_some_and(|tag| hmac::verify(&key, &content, &tag).is_ok())
    });
    if matched {
        Ok(())
    } else {
        Err(Error::Signature("no v1 signature matches the secret".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spec_test_vector_signs_and_verifies() {
        // The Standard Webhooks specification's published example.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let (id, ts, body) = (
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            br#"{"test": 2432232314}"#,
        );
        let sig = sign(secret, id, ts, body).expect("signs");
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        verify(secret, id, "1614265330", &sig, body, ts + 299, 300).expect("verifies");
    }

    #[test]
    fn tampering_age_and_other_secrets_are_refused() {
        let (a, b) = (new_secret(), new_secret());
        assert_ne!(a, b);
        assert!(a.starts_with("whsec_") && a.len() == 38, "{a}");
        let header = signature_header(&[b.as_str(), a.as_str()], "1-0", 100, b"{}").expect("signs");
        assert_eq!(header.split(' ').count(), 2);
        verify(&a, "1-0", "100", &header, b"{}", 100, 300).expect("the second signature matches");
        let refused = [
            verify(&a, "1-0", "100", &header, b"{ }", 100, 300),
            verify(&a, "2-0", "100", &header, b"{}", 100, 300),
            verify(&a, "1-0", "101", &header, b"{}", 101, 300),
            verify(&a, "1-0", "100", &header, b"{}", 401, 300),
            verify(&a, "1-0", "x", &header, b"{}", 100, 300),
            verify(&a, "1-0", "100", "v2,AAAA", b"{}", 100, 300),
            verify(&new_secret(), "1-0", "100", &header, b"{}", 100, 300),
            verify("whsec_not base64!", "1-0", "100", &header, b"{}", 100, 300),
        ];
        for (i, r) in refused.iter().enumerate() {
            assert!(matches!(r, Err(Error::Signature(_))), "case {i}: {r:?}");
        }
    }
}
