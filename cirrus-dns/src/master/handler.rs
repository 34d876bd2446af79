//! What the hidden master answers to each request: the TSIG check, the
//! transfer gates, and the answer itself.

use super::HiddenMaster;
use super::transfer::{Transfer, send, transfer};
use crate::metrics::{rcode_label, type_label};
use crate::tsig::{AnswerSigner, Check};
use crate::zone::{Lookup, Zone};
use hickory_proto::op::{Edns, Metadata, OpCode, ResponseCode};
use hickory_proto::rr::rdata::tsig::TsigError;
use hickory_proto::rr::{DNSClass, LowerName, RData, Record, RecordType};
use hickory_server::net::runtime::Time;
use hickory_server::net::xfer::Protocol;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;

/// Largest UDP answer offered to EDNS clients (the DNS Flag Day 2020 size).
pub(super) const MAX_UDP_PAYLOAD: u16 = 1232;

pub(super) struct Handler {
    pub(super) master: HiddenMaster,
}

/// What a request gets.
enum Reply<'r> {
    /// No records, this response code.
    Refuse(ResponseCode),
    /// A zone transfer.
    Transfer(Transfer),
    /// The zone's answer for this name and type.
    Answer(&'r LowerName, RecordType),
}

/// Unix time now, in seconds.
pub(super) fn unix_now() -> u64 {
    cirrus_core::model::now_ms() / 1000
}

impl Handler {
    /// The reply to `request` for `zone`, and the query's `type` label;
    /// `signed`: the request carried a TSIG that verified.
    fn decide<'r>(&self, request: &'r Request, zone: &Zone, signed: bool) -> (Reply<'r>, &'static str) {
        if request.metadata.op_code != OpCode::Query {
            return (Reply::Refuse(ResponseCode::NotImp), "other");
        }
        if request.edns.as_ref().is_some_and(|e| e.version() > 0) {
            return (Reply::Refuse(ResponseCode::BADVERS), "other");
        }
        let Ok(info) = request.request_info() else {
            return (Reply::Refuse(ResponseCode::FormErr), "other");
        };
        let query = info.query;
        let qtype = query.query_type();
        let label = type_label(qtype);
        let allowed = || self.master.allow_transfer.allows(request.src().ip());
        if query.query_class() != DNSClass::IN && query.query_class() != DNSClass::ANY {
            return (Reply::Refuse(ResponseCode::Refused), label);
        }
        if matches!(qtype, RecordType::AXFR | RecordType::IXFR) {
            let reply = self.decide_transfer(request, zone, query.name(), qtype, allowed(), signed);
            return (reply, label);
        }
        if qtype == RecordType::SOA && !allowed() {
            return (Reply::Refuse(ResponseCode::Refused), label);
        }
        (Reply::Answer(query.name(), qtype), label)
    }

    fn decide_transfer<'r>(
        &self,
        request: &'r Request,
        zone: &Zone,
        name: &LowerName,
        qtype: RecordType,
        allowed: bool,
        signed: bool,
    ) -> Reply<'r> {
        let m = &self.master;
        let ip = request.src().ip();
        let tcp = request.protocol() == Protocol::Tcp;
        // The address allow list first, then the key: both gates hold.
        let refusal = if !allowed {
            Some((ResponseCode::Refused, "address not allowed"))
        } else if name != zone.origin() {
            Some((ResponseCode::Refused, "not this zone"))
        } else if !m.keys.is_empty() && !signed {
            Some((ResponseCode::NotAuth, "not signed with a TSIG key"))
        } else if qtype == RecordType::AXFR && !tcp {
            Some((ResponseCode::Refused, "AXFR over UDP"))
        } else {
            None
        };
        let reply = match refusal {
            Some((code, why)) => {
                if m.gate.should_log(ip, why) {
                    tracing::info!(src = %request.src(), reason = why, "dns: zone transfer refused");
                }
                Reply::Refuse(code)
            }
            None if qtype == RecordType::AXFR => Reply::Transfer(Transfer::Axfr),
            None => Reply::Transfer(Transfer::Ixfr {
                serial: client_serial(request, zone),
                udp: !tcp,
            }),
        };
        if matches!(reply, Reply::Refuse(_)) {
            self.count_transfer("refused");
        }
        reply
    }

    /// Sends a NOTAUTH carrying the TSIG error (RFC 8945 §5.2), logged
    /// once a minute per address and error.
    async fn refuse_tsig<R: ResponseHandler>(
        &self,
        request: &Request,
        response: &mut R,
        error: TsigError,
        mut signer: AnswerSigner,
    ) -> Result<ResponseInfo, hickory_server::net::NetError> {
        let why = match error {
            TsigError::BadKey => "badkey",
            TsigError::BadSig => "badsig",
            TsigError::BadTime => "badtime",
            TsigError::BadTrunc => "badtrunc",
            TsigError::Unknown(_) => "unknown",
        };
        if let Some(m) = &self.master.metrics {
            m.tsig_errors.with_label_values(&[why]).inc();
        }
        if self.master.gate.should_log(request.src().ip(), why) {
            tracing::warn!(src = %request.src(), error = why, "dns: TSIG refused");
        }
        let mut metadata = Metadata::response_from_request(&request.metadata);
        metadata.response_code = ResponseCode::NotAuth;
        let make = || MessageResponseBuilder::from_message_request(request).build_no_records(metadata);
        send(response, make, Some(&mut signer)).await
    }
}

/// The serial of the client's SOA in an IXFR's authority section
/// (RFC 1995 §3); `None` when there is none for this zone.
fn client_serial(request: &Request, zone: &Zone) -> Option<u32> {
    request.authorities.iter().find_map(|r| match &r.data {
        RData::SOA(soa) if LowerName::from(&r.name) == *zone.origin() => Some(soa.serial),
        _ => None,
    })
}

#[async_trait::async_trait]
impl RequestHandler for Handler {
    async fn handle_request<R: ResponseHandler, T: Time>(&self, request: &Request, mut response: R) -> ResponseInfo {
        let zone = self.master.zone.get();
        let mut signer = None;
        if let Some(tsig) = &request.signature {
            match self.master.keys.check(request.as_slice(), tsig, unix_now()) {
                Check::Valid(s) => signer = Some(s),
                Check::Refused(error, s) => {
                    let sent = self.refuse_tsig(request, &mut response, error, s).await;
                    return self.count(request, "other", sent);
                }
            }
        }
        let (reply, qtype) = self.decide(request, &zone, signer.is_some());
        let edns = response_edns(request);
        let builder = || {
            let mut b = MessageResponseBuilder::from_message_request(request);
            if let Some(e) = &edns {
                b.edns(e);
            }
            b
        };
        // A transfer's place, held until it is sent; none left: REFUSED.
        let mut slot = None;
        let reply = match reply {
            Reply::Transfer(kind) => match self.master.gate.transfer(request.src().ip()) {
                Some(s) => {
                    slot = Some(s);
                    self.count_transfer("served");
                    Reply::Transfer(kind)
                }
                None => {
                    self.count_transfer("refused");
                    if self.master.gate.should_log(request.src().ip(), "too many transfers") {
                        tracing::warn!(src = %request.src(), "dns: zone transfer refused: too many at once from this address");
                    }
                    Reply::Refuse(ResponseCode::Refused)
                }
            },
            other => other,
        };
        let signer = signer.as_mut();
        let sent = match reply {
            Reply::Refuse(code) => {
                let mut metadata = Metadata::response_from_request(&request.metadata);
                metadata.response_code = code;
                send(&mut response, || builder().build_no_records(metadata), signer).await
            }
            Reply::Transfer(kind) => transfer(&zone, kind, request, &mut response, builder, signer, &self.master).await,
            Reply::Answer(name, rtype) => answer(&zone, request, &mut response, builder, name, rtype, signer).await,
        };
        drop(slot);
        self.count(request, qtype, sent)
    }
}

impl Handler {
    /// Counts a transfer served or refused.
    fn count_transfer(&self, outcome: &str) {
        if let Some(m) = &self.master.metrics {
            m.transfers.with_label_values(&[outcome]).inc();
        }
    }

    /// Counts the answer by type and rcode; a failed send is a SERVFAIL.
    fn count(
        &self,
        request: &Request,
        qtype: &'static str,
        sent: Result<ResponseInfo, hickory_server::net::NetError>,
    ) -> ResponseInfo {
        if let Some(m) = &self.master.metrics {
            let rcode = match &sent {
                Ok(info) => rcode_label(info.response_code),
                Err(_) => "unsent",
            };
            m.queries.with_label_values(&[qtype, rcode]).inc();
        }
        sent.unwrap_or_else(|e| {
            tracing::debug!(error = %e, "dns: could not send a response");
            let mut metadata = Metadata::response_from_request(&request.metadata);
            metadata.response_code = ResponseCode::ServFail;
            ResponseInfo::from(hickory_proto::op::Header {
                metadata,
                counts: Default::default(),
            })
        })
    }
}

/// The EDNS of the answer when the query had one.
fn response_edns(request: &Request) -> Option<Edns> {
    let asked = request.edns.as_ref()?;
    let mut edns = Edns::new();
    edns.set_max_payload(asked.max_payload().clamp(512, MAX_UDP_PAYLOAD));
    edns.set_version(0);
    Some(edns)
}

async fn answer<'q, R: ResponseHandler>(
    zone: &Zone,
    request: &'q Request,
    response: &mut R,
    builder: impl Fn() -> MessageResponseBuilder<'q>,
    name: &LowerName,
    qtype: RecordType,
    signer: Option<&mut AnswerSigner>,
) -> Result<ResponseInfo, hickory_server::net::NetError> {
    let mut metadata = Metadata::response_from_request(&request.metadata);
    let no_records: &[Record] = &[];
    let soa = std::slice::from_ref(zone.soa());
    let (answers, authority) = match zone.lookup(name, qtype) {
        Lookup::NotInZone => {
            metadata.response_code = ResponseCode::Refused;
            return send(response, || builder().build_no_records(metadata), signer).await;
        }
        Lookup::Found(records) => (records, no_records),
        Lookup::NoData => (no_records, soa),
        Lookup::NxDomain => {
            metadata.response_code = ResponseCode::NXDomain;
            (no_records, soa)
        }
    };
    metadata.authoritative = true;
    let make = || {
        builder().build(
            metadata,
            answers.iter(),
            no_records.iter(),
            authority.iter(),
            no_records.iter(),
        )
    };
    send(response, make, signer).await
}
