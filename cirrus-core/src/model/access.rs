//! Who may call the control plane: service tokens with scopes, portal users,
//! browser sessions. Only hashes of secrets are ever stored.

use super::validate::{ValidationErrors, normalize_domain};
use serde::{Deserialize, Serialize};
use std::fmt;

/// What a service token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub enum Scope {
    /// Read everything it can see.
    #[serde(rename = "read")]
    Read,
    /// Create, change and delete domains.
    #[serde(rename = "domains:write")]
    DomainsWrite,
    /// Purge caches.
    #[serde(rename = "purge")]
    Purge,
    /// Request and upload certificates.
    #[serde(rename = "certs")]
    Certs,
    /// Manage edge nodes.
    #[serde(rename = "nodes")]
    Nodes,
    /// Manage webhooks (within the token's domains).
    #[serde(rename = "webhooks")]
    Webhooks,
}

impl Scope {
    /// Every scope, in API order.
    pub const ALL: [Scope; 6] = [
        Scope::Read,
        Scope::DomainsWrite,
        Scope::Purge,
        Scope::Certs,
        Scope::Nodes,
        Scope::Webhooks,
    ];

    /// The name used in the API, e.g. `domains:write`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::DomainsWrite => "domains:write",
            Scope::Purge => "purge",
            Scope::Certs => "certs",
            Scope::Nodes => "nodes",
            Scope::Webhooks => "webhooks",
        }
    }
}

impl std::str::FromStr for Scope {
    type Err = String;

    /// Parses an API name, e.g. `purge`.
    fn from_str(s: &str) -> Result<Self, String> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == s)
            .ok_or_else(|| format!("unknown scope {s:?}; use read, domains:write, purge, certs, nodes or webhooks"))
    }
}

/// A service token's metadata (its secret is shown once and never stored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ServiceToken {
    /// Token id (not secret).
    pub id: String,
    /// Human name, e.g. `ci-deploy`.
    pub name: String,
    /// Granted scopes.
    pub scopes: Vec<Scope>,
    /// Domains it may touch; `None`: all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domains: Option<Vec<String>>,
    /// Unix seconds of creation.
    pub created_at: u64,
    /// Unix seconds after which it is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
}

impl ServiceToken {
    /// True when the token holds `scope`.
    pub fn has_scope(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }

    /// True when the token may touch `domain` (already normalized).
    pub fn covers_domain(&self, domain: &str) -> bool {
        self.domains.as_ref().is_none_or(|ds| ds.iter().any(|d| d == domain))
    }

    /// True when expired at `now` (unix seconds).
    pub fn is_expired(&self, now: u64) -> bool {
        self.expires_at.is_some_and(|e| now >= e)
    }

    /// Checks and normalizes the name, scopes and domain list.
    pub fn validated(mut self) -> Result<Self, ValidationErrors> {
        let mut errs = ValidationErrors::default();
        if self.name.trim().is_empty() || self.name.len() > 128 || self.name.chars().any(char::is_control) {
            errs.push("name", "must be 1-128 characters without control characters");
        }
        if self.scopes.is_empty() {
            errs.push("scopes", "must grant at least one scope");
        }
        self.scopes.sort();
        self.scopes.dedup();
        if let Some(domains) = &mut self.domains {
            for (i, d) in domains.iter_mut().enumerate() {
                match normalize_domain(d) {
                    Ok(n) => *d = n,
                    Err(reason) => errs.push(format!("domains[{i}]"), reason),
                }
            }
        }
        errs.into_result(self)
    }
}

/// A portal user.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct User {
    /// Login name.
    pub name: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// Unix seconds of creation.
    pub created_at: u64,
}

impl User {
    /// A user with an already hashed password.
    pub fn new(name: impl Into<String>, password_hash: impl Into<String>, created_at: u64) -> Self {
        Self {
            name: name.into(),
            password_hash: password_hash.into(),
            created_at,
        }
    }
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("name", &self.name)
            .field("password_hash", &"<redacted>")
            .field("created_at", &self.created_at)
            .finish()
    }
}

/// A browser session, stored with a TTL under `cdn:session:{id}`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Session {
    /// Session id (the cookie value).
    pub id: String,
    /// The user it belongs to.
    pub user: String,
    /// Token that mutating requests must echo (CSRF).
    pub csrf_token: String,
    /// Unix seconds of creation.
    pub created_at: u64,
}

impl Session {
    /// A session for `user`.
    pub fn new(id: impl Into<String>, user: impl Into<String>, csrf_token: impl Into<String>, created_at: u64) -> Self {
        Self {
            id: id.into(),
            user: user.into(),
            csrf_token: csrf_token.into(),
            created_at,
        }
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("user", &self.user)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_serialize_with_api_names() {
        let json = serde_json::to_string(&[Scope::Read, Scope::DomainsWrite]).expect("json");
        assert_eq!(json, r#"["read","domains:write"]"#);
        for scope in Scope::ALL {
            let json = serde_json::to_value(scope).expect("json");
            assert_eq!(json.as_str(), Some(scope.as_str()), "as_str matches the wire name");
            assert_eq!(scope.as_str().parse::<Scope>(), Ok(scope));
        }
        assert!("root".parse::<Scope>().is_err());
    }

    #[test]
    fn token_domain_list_limits_reach() {
        let t = ServiceToken {
            id: "t1".into(),
            name: "ci".into(),
            scopes: vec![Scope::Purge, Scope::Purge],
            domains: Some(vec!["Example.COM".into()]),
            created_at: 0,
            expires_at: Some(10),
        }
        .validated()
        .expect("valid");
        assert_eq!(t.scopes, [Scope::Purge]);
        assert!(t.covers_domain("example.com") && !t.covers_domain("other.com"));
        assert!(!t.is_expired(9) && t.is_expired(10));
    }
}
