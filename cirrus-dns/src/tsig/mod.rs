//! TSIG keys (RFC 8945): a key's name, its algorithm (`hmac-sha256` or
//! `hmac-sha512`) and its secret, given as `NAME:ALGORITHM:BASE64SECRET`
//! (the form BIND's and NSD's key files hold), turned into hickory-proto's
//! signer. The secret never appears in `Debug` output or logs.
//!
//! ```
//! use cirrus_dns::TsigKey;
//! let key: TsigKey = "xfr-key:hmac-sha256:c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0".parse()?;
//! assert_eq!(key.name(), "xfr-key.");
//! assert!(!format!("{key:?}").contains("c2Vj"));
//! # Ok::<(), cirrus_dns::Error>(())
//! ```

use crate::Error;
use base64::Engine as _;
use hickory_proto::rr::rdata::tsig::TsigAlgorithm;
use hickory_proto::rr::{Name, TSigner};
use std::str::FromStr;

mod keyring;
pub(crate) use keyring::{AnswerSigner, Check, Keyring};

/// How far a signed message's time may be from this clock, in seconds
/// (RFC 8945 §10 recommends 300).
pub const TSIG_FUDGE: u16 = 300;

/// A TSIG key: its name, algorithm and secret.
#[derive(Clone)]
pub struct TsigKey {
    name: Name,
    algorithm: TsigAlgorithm,
    secret: Vec<u8>,
    signer: TSigner,
}

impl PartialEq for TsigKey {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.algorithm == other.algorithm && self.secret == other.secret
    }
}

impl Eq for TsigKey {}

impl std::fmt::Debug for TsigKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TsigKey")
            .field("name", &self.name())
            .field("algorithm", &self.algorithm.to_name().to_string())
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl TsigKey {
    /// The key's name, fully qualified (`xfr-key.`).
    pub fn name(&self) -> String {
        self.name.to_string()
    }

    /// hickory-proto's signer for this key, with [`TSIG_FUDGE`].
    pub fn signer(&self) -> TSigner {
        self.signer.clone()
    }
}

impl FromStr for TsigKey {
    type Err = Error;

    /// `NAME:ALGORITHM:BASE64SECRET`; the algorithm `hmac-sha256` or
    /// `hmac-sha512`, the secret at least 16 bytes once decoded.
    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = |why: &str| Error::Config(format!("TSIG key: {why} (give NAME:ALGORITHM:BASE64SECRET)"));
        let mut parts = s.trim().splitn(3, ':');
        let (Some(name), Some(algorithm), Some(secret)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad("three parts separated by ':' expected"));
        };
        let mut name = Name::from_ascii(name)
            .ok()
            .filter(|n| !n.is_root() && !name.is_empty())
            .ok_or_else(|| bad("the name is not a DNS name"))?;
        name.set_fqdn(true);
        let algorithm = match algorithm.to_ascii_lowercase().trim_end_matches('.') {
            "hmac-sha256" => TsigAlgorithm::HmacSha256,
            "hmac-sha512" => TsigAlgorithm::HmacSha512,
            _ => return Err(bad("the algorithm must be hmac-sha256 or hmac-sha512")),
        };
        let secret = base64::engine::general_purpose::STANDARD
            .decode(secret.trim())
            .map_err(|_| bad("the secret is not base64"))?;
        if secret.len() < 16 {
            return Err(bad("the secret must be at least 16 bytes"));
        }
        let signer = TSigner::new(secret.clone(), algorithm.clone(), name.clone(), TSIG_FUDGE)
            .map_err(|e| bad(&format!("the algorithm is not available: {e}")))?;
        Ok(Self {
            name,
            algorithm,
            secret,
            signer,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use hickory_proto::op::{Message, MessageType, OpCode, Query};
    use hickory_proto::rr::RecordType;

    const KEY: &str = "xfr-key:hmac-sha256:c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0";

    fn signed_notify(key: &TsigKey, time: u64) -> Vec<u8> {
        let mut m = Message::new(7, MessageType::Query, OpCode::Notify);
        m.add_query(Query::query(Name::from_ascii("cdn.test.").unwrap(), RecordType::SOA));
        m.finalize(&key.signer(), time).unwrap();
        m.to_vec().unwrap()
    }

    #[test]
    fn keys_are_parsed_and_refused_with_the_reason() {
        let key: TsigKey = KEY.parse().unwrap();
        assert_eq!(key.name(), "xfr-key.");
        let sha512: TsigKey = "k:HMAC-SHA512.:c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0".parse().unwrap();
        assert_eq!(sha512.algorithm, TsigAlgorithm::HmacSha512);
        for (bad, why) in [
            ("xfr-key:hmac-sha256", "three parts"),
            (
                "xfr-key:hmac-md5:c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0",
                "hmac-sha256 or hmac-sha512",
            ),
            ("xfr-key:hmac-sha256:not base64!", "not base64"),
            ("xfr-key:hmac-sha256:c2hvcnQ=", "at least 16 bytes"),
            (":hmac-sha256:c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0", "not a DNS name"),
        ] {
            let e = bad.parse::<TsigKey>().unwrap_err().to_string();
            assert!(e.contains(why), "{bad}: {e}");
            assert!(!e.contains("c2VjcmV0"), "the secret is never in an error: {e}");
        }
        let shown = format!("{key:?}");
        assert!(
            shown.contains("xfr-key.") && shown.contains("redacted") && !shown.contains("c2Vj"),
            "{shown}"
        );
    }

    #[test]
    fn a_signed_message_verifies_with_its_key_only() {
        let key: TsigKey = KEY.parse().unwrap();
        let wire = signed_notify(&key, 1_800_000_000);
        let (_, time, window) = key.signer().verify_message_byte(&wire, None, true).unwrap();
        assert_eq!(time, 1_800_000_000);
        assert!(window.contains(&(1_800_000_000 + 299)) && !window.contains(&(1_800_000_000 + 301)));
        let other: TsigKey = "xfr-key:hmac-sha256:b3RoZXItb3RoZXItb3RoZXItb3RoZXI=".parse().unwrap();
        assert!(
            other.signer().verify_message_byte(&wire, None, true).is_err(),
            "another secret"
        );
        let renamed: TsigKey = "other-key:hmac-sha256:c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"
            .parse()
            .unwrap();
        assert!(
            renamed.signer().verify_message_byte(&wire, None, true).is_err(),
            "another name"
        );
        // (The header's id may change on the way: the MAC covers the
        // original id kept in the TSIG record, RFC 8945 §4.3.1.)
        let mut tampered = wire.clone();
        tampered[13] ^= 1;
        assert!(
            key.signer().verify_message_byte(&tampered, None, true).is_err(),
            "a changed name"
        );
        let truncated = &wire[..wire.len() - 8];
        assert!(
            key.signer().verify_message_byte(truncated, None, true).is_err(),
            "a cut MAC"
        );
    }
}
