//! Origin servers: where an edge fetches a domain's content.

use super::validate::{ValidationErrors, normalize_host};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Protocol used to reach an origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Scheme {
    /// Plain HTTP.
    #[default]
    Http,
    /// HTTP over TLS.
    Https,
}

impl Scheme {
    /// The port used when an origin names none.
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
}

/// One origin server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Origin {
    /// `http` or `https`.
    #[serde(default)]
    pub scheme: Scheme,
    /// Host name or IP address.
    pub host: String,
    /// Port; the scheme's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 65535))]
    pub port: Option<u16>,
    /// Relative share of traffic among origins of the same kind (1-1000).
    #[serde(default = "one")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1000))]
    pub weight: u32,
    /// Used only when every primary origin is failing.
    #[serde(default)]
    pub backup: bool,
    /// `Host` header sent to the origin (default: the client's Host).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_header: Option<String>,
    /// TLS server name sent to an HTTPS origin (default: `host_header`, then `host`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sni: Option<String>,
}

fn one() -> u32 {
    1
}

impl Origin {
    /// An origin with default weight and no overrides.
    pub fn new(scheme: Scheme, host: impl Into<String>, port: Option<u16>) -> Self {
        Self {
            scheme,
            host: host.into(),
            port,
            weight: 1,
            backup: false,
            host_header: None,
            sni: None,
        }
    }

    /// Port to connect to.
    pub fn effective_port(&self) -> u16 {
        self.port.unwrap_or_else(|| self.scheme.default_port())
    }

    pub(super) fn validate(&mut self, at: &str, errs: &mut ValidationErrors) {
        let host = self.host.trim().trim_start_matches('[').trim_end_matches(']');
        if host.parse::<std::net::IpAddr>().is_ok() {
            self.host = host.to_string();
        } else {
            match normalize_host(host) {
                Ok(h) => self.host = h,
                Err(reason) => errs.push(format!("{at}.host"), reason),
            }
        }
        if self.port == Some(0) {
            errs.push(format!("{at}.port"), "must be 1-65535");
        }
        if !(1..=1000).contains(&self.weight) {
            errs.push(format!("{at}.weight"), "must be 1-1000");
        }
        for (field, value) in [("host_header", &mut self.host_header), ("sni", &mut self.sni)] {
            if let Some(v) = value {
                match normalize_host(v) {
                    Ok(h) => *v = h,
                    Err(reason) => errs.push(format!("{at}.{field}"), reason),
                }
            }
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self.scheme {
            Scheme::Http => "http",
            Scheme::Https => "https",
        };
        if self.host.contains(':') {
            write!(f, "{scheme}://[{}]:{}", self.host, self.effective_port())
        } else {
            write!(f, "{scheme}://{}:{}", self.host, self.effective_port())
        }
    }
}

/// Parses `http://host[:port]` or `https://host[:port]` (IPv6 in brackets).
impl FromStr for Origin {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (scheme, rest) = if let Some(rest) = s.strip_prefix("https://") {
            (Scheme::Https, rest)
        } else if let Some(rest) = s.strip_prefix("http://") {
            (Scheme::Http, rest)
        } else {
            return Err(format!("origin {s:?} must start with http:// or https://"));
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains('/') {
            return Err(format!("origin {s:?} must not have a path"));
        }
        let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
            let (host, after) = v6
                .split_once(']')
                .ok_or_else(|| format!("origin {s:?}: unclosed '['"))?;
            (host, after.strip_prefix(':'))
        } else {
            match rest.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (rest, None),
            }
        };
        let port = port
            .map(|p| {
                p.parse::<u16>()
                    .map_err(|_| format!("origin {s:?}: port must be 1-65535"))
            })
            .transpose()?;
        if host.is_empty() {
            return Err(format!("origin {s:?} has no host"));
        }
        Ok(Origin::new(scheme, host, port))
    }
}
