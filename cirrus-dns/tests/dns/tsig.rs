//! TSIG (RFC 8945) on the hidden master: signed transfers chained across
//! messages, unsigned ones refused, and each bad signature answered with
//! the TSIG error the RFC gives it.

use crate::{build, domains, nodes, query, serve, tcp, tcp_frames, udp_raw};
use cirrus_core::model::AllowList;
use cirrus_dns::{DnsMetrics, HiddenMaster, SharedZone, TsigKey};
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::tsig::TsigError;
use hickory_proto::rr::{RecordType, TSigner};
use std::net::SocketAddr;

const KEY: &str = "xfr-key:hmac-sha256:c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0";

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn key(spec: &str) -> TsigKey {
    spec.parse().unwrap()
}

/// A master of a 1,000-domain zone (several transfer messages) that
/// takes `KEY`.
async fn keyed_master(allow: &str, metrics: &DnsMetrics) -> SocketAddr {
    let zone = SharedZone::new(build(&domains(1_000), &nodes(10), None, 42));
    let master = HiddenMaster::builder(zone)
        .allow_transfer(allow.parse::<AllowList>().unwrap())
        .tsig_keys(&[key(KEY)])
        .metrics(metrics.clone())
        .build();
    serve(master).await
}

fn axfr_signed(signer: &TSigner, time: u64) -> (Vec<u8>, Option<hickory_proto::rr::TSigVerifier>) {
    let mut m = query("cdn.test.", RecordType::AXFR, false);
    let verifier = m.finalize(signer, time).unwrap();
    (m.to_vec().unwrap(), verifier)
}

/// The one answer to `bytes` over TCP.
async fn one(addr: SocketAddr, bytes: &[u8]) -> (Vec<u8>, Message) {
    tcp_frames(addr, bytes, |m| !m.is_empty()).await.remove(0)
}

fn tsig_error(m: &Message) -> Option<TsigError> {
    m.signature().and_then(|s| s.data.error)
}

#[tokio::test]
async fn signed_transfers_are_chained_and_unsigned_ones_refused() {
    let metrics = DnsMetrics::new().unwrap();
    let addr = keyed_master("127.0.0.0/8", &metrics).await;

    let unsigned = query("cdn.test.", RecordType::AXFR, false);
    let m = tcp(addr, &unsigned, |m| !m.is_empty()).await.remove(0);
    assert_eq!(m.metadata.response_code, ResponseCode::NotAuth, "an unsigned AXFR");
    assert!(m.answers.is_empty() && m.signature().is_none());

    let (bytes, verifier) = axfr_signed(&key(KEY).signer(), now());
    let mut verifier = verifier.expect("a verifier for the answers");
    let soas = |ms: &[Message]| {
        ms.iter()
            .flat_map(|m| &m.answers)
            .filter(|r| r.record_type() == RecordType::SOA)
            .count()
    };
    let frames = tcp_frames(addr, &bytes, |ms| soas(ms) >= 2).await;
    assert!(frames.len() > 2, "several messages: {}", frames.len());
    for (i, (raw, m)) in frames.iter().enumerate() {
        assert_eq!(m.metadata.response_code, ResponseCode::NoError);
        assert!(m.signature().is_some(), "message {i} signed");
        verifier
            .verify(raw)
            .unwrap_or_else(|e| panic!("message {i} verifies in the chain: {e}"));
    }
    // A later message checked as if it were the first fails: each MAC
    // covers the one before it, not the request's.
    let (_, fresh) = axfr_signed(&key(KEY).signer(), now());
    assert!(fresh.unwrap().verify(&frames[1].0).is_err(), "message 2 alone");

    // A signed SOA query gets a signed answer.
    let mut soa = query("cdn.test.", RecordType::SOA, false);
    let mut verifier = soa.finalize(&key(KEY).signer(), now()).unwrap().unwrap();
    let raw = udp_raw(addr, &soa.to_vec().unwrap()).await.expect("an answer");
    let answer = verifier.verify(&raw).expect("the SOA answer is signed with the key");
    assert_eq!(answer.answers.len(), 1);

    let text = metrics.render();
    assert!(text.contains(r#"cirrus_dns_axfr_total{outcome="refused"} 1"#), "{text}");
    assert!(text.contains(r#"cirrus_dns_axfr_total{outcome="served"} 1"#), "{text}");
}

#[tokio::test]
async fn bad_signatures_get_the_tsig_error_the_rfc_says() {
    let metrics = DnsMetrics::new().unwrap();
    let addr = keyed_master("127.0.0.0/8", &metrics).await;

    // Unknown key name, and the right name with another algorithm: BADKEY, unsigned.
    for other in [
        "other-key:hmac-sha256:c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0",
        "xfr-key:hmac-sha512:c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0",
    ] {
        let (bytes, _) = axfr_signed(&key(other).signer(), now());
        let (_, m) = one(addr, &bytes).await;
        assert_eq!(m.metadata.response_code, ResponseCode::NotAuth, "{other}");
        assert_eq!(tsig_error(&m), Some(TsigError::BadKey), "{other}");
        assert!(m.signature().unwrap().data.mac.is_empty(), "BADKEY is unsigned");
        assert!(m.answers.is_empty());
    }

    // The right key name with another secret: BADSIG, unsigned.
    let wrong = key("xfr-key:hmac-sha256:b3RoZXItb3RoZXItb3RoZXItb3RoZXI=");
    let (bytes, _) = axfr_signed(&wrong.signer(), now());
    let (_, m) = one(addr, &bytes).await;
    assert_eq!(m.metadata.response_code, ResponseCode::NotAuth);
    assert_eq!(tsig_error(&m), Some(TsigError::BadSig));
    assert!(m.signature().unwrap().data.mac.is_empty(), "BADSIG is unsigned");

    // Signed 20 minutes ago (fudge 300 s): BADTIME, signed with the key,
    // the request's time echoed and this server's time in Other Data.
    let then = now() - 1_200;
    let (bytes, verifier) = axfr_signed(&key(KEY).signer(), then);
    let (raw, m) = one(addr, &bytes).await;
    assert_eq!(m.metadata.response_code, ResponseCode::NotAuth);
    assert_eq!(tsig_error(&m), Some(TsigError::BadTime));
    let tsig = &m.signature().unwrap().data;
    assert_eq!(tsig.time, then);
    let mut server_time = [0u8; 8];
    server_time[2..].copy_from_slice(&tsig.other);
    assert!(
        u64::from_be_bytes(server_time).abs_diff(now()) < 5,
        "server time in Other Data"
    );
    verifier.unwrap().verify(&raw).expect("BADTIME is signed");
    assert!(m.answers.is_empty());

    // A truncated MAC: a correct 20-byte prefix is BADTRUNC (full MACs
    // only here), an 8-byte one is too short to be checked: BADSIG.
    for (len, error) in [(20, TsigError::BadTrunc), (8, TsigError::BadSig)] {
        let mut q = query("cdn.test.", RecordType::AXFR, false);
        let (mut sig, _) = key(KEY).signer().sign_message(&q, now()).unwrap();
        sig.data.mac.truncate(len);
        q.set_signature(sig);
        let (_, m) = one(addr, &q.to_vec().unwrap()).await;
        assert_eq!(m.metadata.response_code, ResponseCode::NotAuth, "{len} bytes");
        assert_eq!(tsig_error(&m), Some(error), "{len} bytes");
        assert!(m.answers.is_empty());
    }

    // A signature from an address outside the allow list: the address
    // gate still holds.
    let strict = keyed_master("192.0.2.1", &DnsMetrics::new().unwrap()).await;
    let (bytes, _) = axfr_signed(&key(KEY).signer(), now());
    let (_, m) = one(strict, &bytes).await;
    assert_eq!(m.metadata.response_code, ResponseCode::Refused);
    assert!(m.answers.is_empty());

    let text = metrics.render();
    for (error, n) in [("badkey", 2), ("badsig", 2), ("badtime", 1), ("badtrunc", 1)] {
        let line = format!(r#"cirrus_dns_tsig_errors_total{{error="{error}"}} {n}"#);
        assert!(text.contains(&line), "{line}\n{text}");
    }
}
