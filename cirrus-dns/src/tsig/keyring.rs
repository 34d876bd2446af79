//! The server side of TSIG (RFC 8945): checking a request's signature
//! against the configured keys (§5.2) and signing every message of the
//! answer, chained across a multi-message transfer (§5.3, §5.3.1).

use super::TsigKey;
use hickory_proto::rr::rdata::tsig::{TSIG, TsigError, make_tsig_record, signed_bitmessage_to_buf};
use hickory_proto::rr::{Name, Record, TSigner};
use hickory_proto::serialize::binary::BinEncoder;
use std::sync::Arc;

/// The keys a server accepts; empty when TSIG is off.
#[derive(Clone, Default)]
pub(crate) struct Keyring(Arc<[TSigner]>);

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.iter().map(|s| s.signer_name())).finish()
    }
}

/// What a signed request's TSIG is worth.
pub(crate) enum Check {
    /// It verified: every message of the answer is signed with `AnswerSigner`.
    Valid(AnswerSigner),
    /// NOTAUTH with this TSIG error; the answer carries the TSIG that
    /// `AnswerSigner` makes (signed for BADTIME and BADTRUNC, unsigned
    /// for BADKEY and BADSIG, as §5.3.2 says).
    Refused(TsigError, AnswerSigner),
}

impl Keyring {
    /// The keys; a key's name appears once (the first wins).
    pub(crate) fn new(keys: &[TsigKey]) -> Self {
        let mut signers: Vec<TSigner> = Vec::with_capacity(keys.len());
        for key in keys {
            let signer = key.signer();
            if signers.iter().all(|s| s.signer_name() != signer.signer_name()) {
                signers.push(signer);
            }
        }
        Self(signers.into())
    }

    /// True when no key is configured.
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Checks the TSIG `tsig` of the request whose bytes are `raw`, at
    /// Unix time `now`, in the order of RFC 8945 §5.2: key, MAC, time,
    /// truncation.
    pub(crate) fn check(&self, raw: &[u8], tsig: &Record<TSIG>, now: u64) -> Check {
        let data = &tsig.data;
        let Some(signer) = self
            .0
            .iter()
            .find(|s| s.signer_name() == &tsig.name && s.algorithm() == &data.algorithm)
        else {
            let reply = AnswerSigner::unsigned(tsig, now, TsigError::BadKey);
            return Check::Refused(TsigError::BadKey, reply);
        };
        let Ok((tbv, _)) = signed_bitmessage_to_buf(raw, None, true) else {
            return Check::Refused(TsigError::BadSig, AnswerSigner::unsigned(tsig, now, TsigError::BadSig));
        };
        let Ok(expected) = signer.sign(&tbv) else {
            return Check::Refused(TsigError::BadSig, AnswerSigner::unsigned(tsig, now, TsigError::BadSig));
        };
        let len = data.mac.len();
        // §5.2.2.1: a MAC shorter than half the algorithm's output (or
        // than 10 bytes) is BADSIG; a correct truncated one is BADTRUNC
        // (this server's policy takes full MACs only).
        let least = (expected.len() / 2).max(10);
        if len < least || len > expected.len() || !constant_time_eq(&expected[..len], &data.mac) {
            return Check::Refused(TsigError::BadSig, AnswerSigner::unsigned(tsig, now, TsigError::BadSig));
        }
        let fudge = u64::from(data.fudge);
        let fresh = now.abs_diff(data.time) <= fudge;
        let mut reply = AnswerSigner {
            signer: Some(signer.clone()),
            key_name: tsig.name.clone(),
            previous_mac: data.mac.clone(),
            first: true,
            error: None,
            time: None,
            other: Vec::new(),
            algorithm: data.algorithm.clone(),
        };
        if !fresh {
            // §5.2.3: signed, the request's time echoed, this server's
            // time in Other Data (48 bits).
            reply.error = Some(TsigError::BadTime);
            reply.time = Some(data.time);
            reply.other = now.to_be_bytes()[2..].to_vec();
            return Check::Refused(TsigError::BadTime, reply);
        }
        if len < expected.len() {
            reply.error = Some(TsigError::BadTrunc);
            return Check::Refused(TsigError::BadTrunc, reply);
        }
        Check::Valid(reply)
    }
}

/// Makes the TSIG of each message of one answer.
pub(crate) struct AnswerSigner {
    /// `None`: the TSIG is unsigned (empty MAC), for BADKEY and BADSIG.
    signer: Option<TSigner>,
    key_name: Name,
    algorithm: hickory_proto::rr::rdata::tsig::TsigAlgorithm,
    /// The request's MAC, then each message's.
    previous_mac: Vec<u8>,
    first: bool,
    error: Option<TsigError>,
    /// Time Signed when not the current time (BADTIME echoes the request's).
    time: Option<u64>,
    other: Vec<u8>,
}

impl AnswerSigner {
    fn unsigned(tsig: &Record<TSIG>, now: u64, error: TsigError) -> Self {
        Self {
            signer: None,
            key_name: tsig.name.clone(),
            algorithm: tsig.data.algorithm.clone(),
            previous_mac: Vec::new(),
            first: true,
            error: Some(error),
            time: Some(now),
            other: Vec::new(),
        }
    }

    /// The TSIG record of the next message of the answer, whose bytes
    /// (without the TSIG, header id final) are `message`, at Unix time
    /// `now`. The first message's MAC covers the request's MAC and the
    /// TSIG variables; each later one the previous MAC and only the
    /// timers (§5.3.1).
    pub(crate) fn sign(&mut self, message: &[u8], now: u64) -> crate::Result<Box<Record<TSIG>>> {
        let id = message.get(..2).map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
        let time = self.time.unwrap_or(now);
        let fudge = super::TSIG_FUDGE;
        let stub = TSIG::new(
            self.algorithm.clone(),
            time,
            fudge,
            Vec::new(),
            id,
            self.error,
            self.other.clone(),
        );
        let Some(signer) = &self.signer else {
            return Ok(Box::new(make_tsig_record(self.key_name.clone(), stub)));
        };
        let bad = |e: &dyn std::fmt::Display| crate::Error::Config(format!("TSIG signing: {e}"));
        let tbs = if self.first {
            signer
                .encode_response_tbs(&self.previous_mac, message, &stub)
                .map_err(|e| bad(&e))?
        } else {
            let mut tbs = Vec::with_capacity(self.previous_mac.len() + message.len() + 10);
            let mut encoder = BinEncoder::new(&mut tbs);
            let mut timers = || -> Result<(), hickory_proto::ProtoError> {
                encoder.emit_u16(u16::try_from(self.previous_mac.len()).unwrap_or(u16::MAX))?;
                encoder.emit_vec(&self.previous_mac)?;
                encoder.emit_vec(message)?;
                encoder.emit_u16((time >> 32) as u16)?;
                encoder.emit_u32(time as u32)?;
                encoder.emit_u16(fudge)
            };
            timers().map_err(|e| bad(&e))?;
            tbs
        };
        let mac = signer.sign(&tbs).map_err(|e| bad(&e))?;
        self.previous_mac.clone_from(&mac);
        self.first = false;
        Ok(Box::new(make_tsig_record(self.key_name.clone(), stub.set_mac(mac))))
    }
}

/// Compares without stopping at the first difference.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
