//! What a login may cost before it is authenticated: a bounded number of
//! password checks at once (each takes Argon2's 19 MiB and ~50 ms of a
//! core), on reused work memory, and separate rate limits per source
//! address and per user name. Over any bound the answer is 429 at once.

use crate::config::LoginLimits;
use crate::error::ApiError;
use crate::ratelimit::Limiter;
use cirrus_core::auth::PasswordChecker;
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The gate every `POST /api/v1/auth/login` passes.
#[derive(Debug)]
pub(crate) struct LoginGate {
    hashing: Arc<Semaphore>,
    checker: Arc<PasswordChecker>,
    by_address: Option<Limiter>,
    by_user: Option<Limiter>,
}

impl LoginGate {
    pub(crate) fn new(limits: &LoginLimits) -> Self {
        Self {
            hashing: Arc::new(Semaphore::new(limits.concurrent_checks)),
            checker: Arc::new(PasswordChecker::new()),
            by_address: limits.per_address.map(Limiter::new),
            by_user: limits.per_user.map(Limiter::new),
        }
    }

    /// Admits one login attempt from `address` for `user`, or answers 429
    /// with the seconds to wait. Both limits are charged, so spreading
    /// guesses over addresses does not help against one user, nor over
    /// user names from one address.
    pub(crate) fn admit(&self, address: &str, user: &str) -> Result<(), ApiError> {
        let checks = [
            self.by_address.as_ref().map(|l| l.check(&format!("ip:{address}"))),
            self.by_user.as_ref().map(|l| l.check(&format!("user:{user}"))),
        ];
        match checks.into_iter().flatten().filter_map(Result::err).max() {
            Some(wait) => Err(ApiError::rate_limited(wait).with_message("too many login attempts; retry later")),
            None => Ok(()),
        }
    }

    /// Checks `password` against `phc` (or against a fixed hash when the
    /// user is unknown, so timing does not tell) off the async threads,
    /// holding one of the bounded permits; 429 when all are taken.
    pub(crate) async fn verify(&self, password: String, phc: Option<String>) -> Result<bool, ApiError> {
        let permit: OwnedSemaphorePermit =
            self.hashing.clone().try_acquire_owned().map_err(|_| {
                ApiError::rate_limited(1).with_message("too many logins in progress; retry in a second")
            })?;
        let checker = self.checker.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            match phc {
                Some(h) => checker.verify(&password, &h),
                None => {
                    let _ = checker.verify(&password, dummy_hash());
                    false
                }
            }
        })
        .await
        .map_err(ApiError::internal)
    }
}

/// The hash unknown users are checked against: the default parameters,
/// like every stored hash.
fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| cirrus_core::auth::hash_password("cirrus-unknown-user").unwrap_or_default())
}
