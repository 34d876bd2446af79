//! Checks of an uploaded certificate: the PEM parses, the key matches the
//! leaf, the leaf names the domain (SAN, one-label wildcards) and is valid
//! now. Every problem is reported against `fullchain` or `key`.

use cirrus_core::model::ValidationErrors;
use rustls::crypto::aws_lc_rs;
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use x509_parser::extensions::GeneralName;

/// Returns the leaf's `not_after` (unix seconds) when the upload is usable
/// for `domain` at `now`.
pub(crate) fn check(fullchain: &str, key: &str, domain: &str, now: u64) -> Result<u64, ValidationErrors> {
    let mut errs = ValidationErrors::default();
    let chain: Vec<CertificateDer<'static>> = match CertificateDer::pem_slice_iter(fullchain.as_bytes()).collect() {
        Ok(chain) => chain,
        Err(e) => {
            errs.push("fullchain", format!("not PEM certificates: {e}"));
            Vec::new()
        }
    };
    if chain.is_empty() && errs.is_empty() {
        errs.push("fullchain", "contains no CERTIFICATE block");
    }
    let key_der = match PrivateKeyDer::from_pem_slice(key.as_bytes()) {
        Ok(k) => Some(k),
        Err(e) => {
            errs.push("key", format!("not a PEM private key: {e}"));
            None
        }
    };
    let mut not_after = 0;
    if let Some(leaf) = chain.first() {
        match x509_parser::parse_x509_certificate(leaf) {
            Ok((_, cert)) => {
                let validity = cert.validity();
                not_after = u64::try_from(validity.not_after.timestamp()).unwrap_or(0);
                let not_before = u64::try_from(validity.not_before.timestamp()).unwrap_or(0);
                if not_after <= now {
                    errs.push("fullchain", format!("the certificate expired at {} (unix)", not_after));
                } else if not_before > now {
                    errs.push(
                        "fullchain",
                        format!("the certificate is not valid before {not_before} (unix)"),
                    );
                }
                let names: Vec<String> = match cert.subject_alternative_name() {
                    Ok(Some(san)) => san
                        .value
                        .general_names
                        .iter()
                        .filter_map(|n| match n {
                            GeneralName::DNSName(d) => Some(d.to_ascii_lowercase()),
                            _ => None,
                        })
                        .collect(),
                    _ => Vec::new(),
                };
                if !names.iter().any(|n| name_matches(n, domain)) {
                    errs.push(
                        "fullchain",
                        format!("the certificate does not cover {domain} (names: {})", names.join(", ")),
                    );
                }
            }
            Err(e) => errs.push("fullchain", format!("the leaf certificate does not parse: {e}")),
        }
    }
    if let (Some(key_der), false) = (key_der, chain.is_empty()) {
        let provider = aws_lc_rs::default_provider();
        match CertifiedKey::from_der(chain, key_der, &provider) {
            Ok(_) => {}
            Err(rustls::Error::InconsistentKeys(_)) => errs.push("key", "does not match the leaf certificate"),
            Err(e) => errs.push("key", format!("unusable: {e}")),
        }
    }
    errs.into_result(not_after)
}

/// `pattern` from a certificate against a host: exact, or `*.` covering
/// exactly one label.
fn name_matches(pattern: &str, host: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(suffix) => host
            .split_once('.')
            .is_some_and(|(label, rest)| !label.is_empty() && rest == suffix),
        None => pattern.trim_end_matches('.') == host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_cover_one_label() {
        assert!(name_matches("*.example.com", "www.example.com"));
        assert!(!name_matches("*.example.com", "a.b.example.com"));
        assert!(!name_matches("*.example.com", "example.com"));
        assert!(name_matches("example.com", "example.com"));
    }
}
