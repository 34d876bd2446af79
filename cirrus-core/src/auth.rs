//! Secrets: service tokens (random, prefixed, stored only as SHA-256),
//! constant-time comparison, Argon2id password hashes, session ids.

use crate::{Error, Result};
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rand::RngCore;
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Prefix of every token secret, so a leaked token is easy to grep for.
pub const TOKEN_PREFIX: &str = "cirrus_";

/// A freshly generated service token: `id` is public, `secret` is shown once.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NewToken {
    /// Public id, e.g. for listing and revoking.
    pub id: String,
    /// `cirrus_` + 64 hex characters (256 random bits).
    pub secret: String,
}

impl std::fmt::Debug for NewToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewToken")
            .field("id", &self.id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// `bytes` as lowercase hex (digests, random ids).
///
/// ```
/// assert_eq!(cirrus_core::auth::hex(&[0x0f, 0xa0]), "0fa0");
/// ```
pub fn hex(bytes: &[u8]) -> String {
    let mut hex = vec![0; bytes.len() * 2];
    write_hex(bytes, &mut hex);
    // Hex digits are ASCII: the conversion cannot fail.
    String::from_utf8(hex).unwrap_or_default()
}

/// Writes `bytes` as lowercase hex into the first `2 * bytes.len()` bytes
/// of `out` (no allocation: the edge's request ids).
///
/// ```
/// let mut out = [0u8; 4];
/// cirrus_core::auth::write_hex(&[0x0f, 0xa0], &mut out);
/// assert_eq!(&out, b"0fa0");
/// ```
pub fn write_hex(bytes: &[u8], out: &mut [u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (b, pair) in bytes.iter().zip(out.chunks_exact_mut(2)) {
        pair[0] = DIGITS[usize::from(b >> 4)];
        pair[1] = DIGITS[usize::from(b & 15)];
    }
}

/// `bytes` random bytes from the OS generator, as lowercase hex: ids for
/// purges, requests and CSRF tokens.
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    OsRng.fill_bytes(&mut buf);
    hex(&buf)
}

/// Generates a token with 256 bits of entropy and a 64-bit id.
///
/// ```
/// let t = cirrus_core::auth::generate_token();
/// assert!(t.secret.starts_with("cirrus_"));
/// assert_eq!(cirrus_core::auth::hash_secret(&t.secret).len(), 64);
/// ```
pub fn generate_token() -> NewToken {
    NewToken {
        id: random_hex(8),
        secret: format!("{TOKEN_PREFIX}{}", random_hex(32)),
    }
}

/// A random session id (256 bits, hex).
pub fn generate_session_id() -> String {
    random_hex(32)
}

/// Lowercase hex SHA-256 of a secret: what the store keeps.
pub fn hash_secret(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes()))
}

/// Compares two secrets in time independent of where they differ (both are
/// hashed first, so their lengths do not leak either).
pub fn secrets_equal(presented: &str, expected: &str) -> bool {
    let a = Sha256::digest(presented.as_bytes());
    let b = Sha256::digest(expected.as_bytes());
    a.ct_eq(&b).into()
}

/// Hashes a password with Argon2id (default parameters, random salt) into a
/// PHC string.
pub fn hash_password(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::PasswordHash(e.to_string()))
}

/// True when `password` matches the PHC string; false for a malformed hash.
/// Allocates the hash's work memory (19 MiB by default) for each call: a
/// server verifying passwords for the public uses [`PasswordChecker`].
pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
        .unwrap_or(false)
}

/// Argon2 work areas kept for reuse at most, whatever the concurrency.
const SPARE_WORK_AREAS: usize = 8;

/// Verifies Argon2 password hashes reusing their work memory: each check
/// takes a work area from a small pool and gives it back, so a burst of
/// logins does not leave the allocator holding a fresh 19 MiB per
/// concurrent check (glibc keeps freed large blocks once its mmap
/// threshold has grown). Bound the concurrency of
/// [`PasswordChecker::verify`] (a semaphore) to bound the memory.
#[derive(Debug, Default)]
pub struct PasswordChecker {
    spare: std::sync::Mutex<Vec<Vec<argon2::Block>>>,
}

impl PasswordChecker {
    /// A checker with no work area yet (they are made on first use).
    pub fn new() -> Self {
        Self::default()
    }

    /// True when `password` matches the PHC string (Argon2id, Argon2i or
    /// Argon2d); false for a malformed hash. Blocking: run it off the
    /// async threads.
    pub fn verify(&self, password: &str, phc: &str) -> bool {
        let Ok(hash) = PasswordHash::new(phc) else {
            return false;
        };
        let (Some(expected), Some(salt)) = (hash.hash, hash.salt) else {
            return false;
        };
        let algorithm = argon2::Algorithm::try_from(hash.algorithm);
        let version = hash
            .version
            .map_or(Ok(argon2::Version::V0x13), argon2::Version::try_from);
        let (Ok(algorithm), Ok(version), Ok(params)) = (algorithm, version, argon2::Params::try_from(&hash)) else {
            return false;
        };
        let mut salt_bytes = [0u8; 64];
        let Ok(salt) = salt.decode_b64(&mut salt_bytes) else {
            return false;
        };
        let mut out = [0u8; 64];
        let Some(out) = out.get_mut(..expected.len()) else {
            return false;
        };
        let mut memory = self.take(params.block_count());
        let argon = Argon2::new(algorithm, version, params);
        let hashed = argon.hash_password_into_with_memory(password.as_bytes(), salt, out, &mut memory[..]);
        self.give_back(memory);
        hashed.is_ok() && bool::from(out.ct_eq(expected.as_bytes()))
    }

    fn take(&self, blocks: usize) -> Vec<argon2::Block> {
        let mut spare = self.spare.lock().unwrap_or_else(|p| p.into_inner());
        match spare.iter().position(|m| m.len() >= blocks) {
            Some(i) => spare.swap_remove(i),
            None => vec![argon2::Block::default(); blocks],
        }
    }

    fn give_back(&self, memory: Vec<argon2::Block>) {
        let mut spare = self.spare.lock().unwrap_or_else(|p| p.into_inner());
        if spare.len() < SPARE_WORK_AREAS {
            spare.push(memory);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_prefixed_and_unique() {
        let a = generate_token();
        let b = generate_token();
        assert_ne!(a.secret, b.secret);
        assert_ne!(a.id, b.id);
        assert_eq!(a.secret.len(), TOKEN_PREFIX.len() + 64);
        assert!(!format!("{a:?}").contains(&a.secret));
    }

    #[test]
    fn sha256_is_hex_of_the_secret() {
        assert_eq!(
            hash_secret("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn constant_time_compare() {
        assert!(secrets_equal("cirrus_x", "cirrus_x"));
        assert!(!secrets_equal("cirrus_x", "cirrus_y"));
        assert!(!secrets_equal("", "cirrus_y"));
    }

    #[test]
    fn the_checker_agrees_with_plain_verification_and_reuses_memory() {
        let h = hash_password("correct horse battery staple").expect("hash");
        let checker = PasswordChecker::new();
        for _ in 0..2 {
            assert!(checker.verify("correct horse battery staple", &h));
            assert!(!checker.verify("wrong", &h));
        }
        assert_eq!(checker.spare.lock().expect("lock").len(), 1, "one work area, reused");
        assert!(!checker.verify("x", "not a phc string"));
        assert!(
            !checker.verify("x", "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ"),
            "no hash part"
        );
    }

    #[test]
    fn argon2id_round_trip() {
        let h = hash_password("correct horse").expect("hash");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong", &h));
        assert!(!verify_password("x", "not a phc string"));
    }
}
