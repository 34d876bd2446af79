//! ACME Renewal Information (RFC 9773): the CA's suggested renewal window
//! for a certificate, asked with the certificate's identifier (its
//! authority key identifier and serial, RFC 9773 §4.1), and the point in
//! the window this CDN renews at.

use instant_acme::CertificateIdentifier;
use rustls_pki_types::Der;
use std::time::Duration;
use x509_parser::extensions::ParsedExtension;

/// The shortest and longest wait between two questions about one
/// certificate, whatever the CA's `Retry-After` says (RFC 9773 §4.3.2
/// suggests treating values under a minute as a minute, over a day as a
/// day).
const CHECK_AGAIN: (Duration, Duration) = (Duration::from_secs(60), Duration::from_secs(86_400));

/// A CA's suggested renewal window for one certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenewalWindow {
    /// Unix seconds: renewing earlier is not suggested.
    pub start: u64,
    /// Unix seconds: renewing later risks an outage.
    pub end: u64,
    /// The CA's page saying why the window is what it is (a revocation
    /// coming, say), if it gave one.
    pub explanation: Option<String>,
    /// When to ask again, from the CA's `Retry-After` (between a minute
    /// and a day).
    pub check_again: Duration,
}

impl RenewalWindow {
    /// A window from the CA's answer.
    pub(crate) fn from_ari(info: &instant_acme::RenewalInfo, retry_after: Duration) -> Self {
        let unix = |t: i64| u64::try_from(t).unwrap_or(0);
        let window = &info.suggested_window;
        let (start, end) = (unix(window.start.unix_timestamp()), unix(window.end.unix_timestamp()));
        Self {
            start,
            end: end.max(start),
            explanation: info.explanation_url.clone(),
            check_again: retry_after.clamp(CHECK_AGAIN.0, CHECK_AGAIN.1),
        }
    }

    /// The point in the window (Unix seconds) at which `domain` renews:
    /// spread over the window by the domain's name, so that certificates
    /// sharing a window do not all renew at its start (RFC 9773 §4.2
    /// asks for a uniformly spread point), and the same on every scan; the
    /// start when the window is empty.
    pub fn renew_at(&self, domain: &str) -> u64 {
        let span = self.end.saturating_sub(self.start);
        if span == 0 {
            return self.start;
        }
        self.start + cirrus_core::stable_hash(domain.as_bytes()) % span
    }
}

/// The RFC 9773 identifier of the leaf of a PEM chain: None when the
/// chain does not parse or the leaf has no authority key identifier.
pub(crate) fn certificate_id(chain: &str) -> Option<CertificateIdentifier<'static>> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(chain.as_bytes()).ok()?;
    let cert = pem.parse_x509().ok()?;
    let aki = cert.iter_extensions().find_map(|ext| match ext.parsed_extension() {
        ParsedExtension::AuthorityKeyIdentifier(aki) => aki.key_identifier.as_ref().map(|id| id.0),
        _ => None,
    })?;
    let id = CertificateIdentifier::new(Der::from_slice(aki), Der::from_slice(cert.tbs_certificate.raw_serial()));
    Some(id.into_owned())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::{RenewalWindow, certificate_id};
    use std::time::Duration;

    fn window(start: u64, end: u64) -> RenewalWindow {
        RenewalWindow {
            start,
            end,
            explanation: None,
            check_again: Duration::from_secs(3600),
        }
    }

    #[test]
    fn each_domain_renews_at_its_own_point_inside_the_window() {
        let w = window(1_000_000, 1_086_400);
        let points: std::collections::BTreeSet<u64> = (0..50).map(|i| w.renew_at(&format!("shop{i}.test"))).collect();
        assert!(points.iter().all(|p| (w.start..w.end).contains(p)));
        assert!(points.len() > 40, "spread: {points:?}");
        assert_eq!(w.renew_at("shop1.test"), w.renew_at("shop1.test"));
        assert_eq!(window(5, 5).renew_at("shop.test"), 5);
    }

    #[test]
    fn the_identifier_is_the_aki_and_the_serial_base64url() {
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params.key_identifier_method = rcgen::KeyIdMethod::PreSpecified(vec![0x69, 0x88, 0x5b]);
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let mut leaf = rcgen::CertificateParams::new(vec!["shop.test".into()]).unwrap();
        leaf.serial_number = Some(rcgen::SerialNumber::from_slice(&[0x00, 0x87, 0x65, 0x43, 0x21]));
        leaf.use_authority_key_identifier_extension = true;
        let key = rcgen::KeyPair::generate().unwrap();
        let pem = leaf.signed_by(&key, &issuer).unwrap().pem();
        let id = certificate_id(&pem).unwrap();
        // RFC 9773 §4.1's example: keyIdentifier 69:88:5B, serial 00:87:65:43:21.
        assert_eq!(id.to_string(), "aYhb.AIdlQyE");
        drop(ca);
        assert!(certificate_id("not a certificate").is_none());
    }
}
