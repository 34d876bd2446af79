//! Zone transfers: AXFR (RFC 5936) and IXFR (RFC 1995), in messages of
//! [`CHUNK`] records, each signed when the request was (chained, RFC 8945
//! §5.3.1).

use super::HiddenMaster;
use super::handler::unix_now;
use crate::tsig::AnswerSigner;
use crate::zone::{Ixfr, Zone};
use hickory_proto::op::Metadata;
use hickory_proto::rr::Record;
use hickory_proto::serialize::binary::BinEncoder;
use hickory_server::net::NetError;
use hickory_server::server::{Request, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::{MessageResponse, MessageResponseBuilder};

/// Records per message of a zone transfer (each message stays far below
/// the 64 KiB TCP limit).
const CHUNK: usize = 500;
/// Room kept for the TSIG record in a signed UDP answer (key name,
/// algorithm name, a 512-bit MAC and the fixed fields).
const TSIG_ROOM: u16 = 400;
/// An empty section.
const NONE: &[Record] = &[];

/// The transfer asked for.
pub(super) enum Transfer {
    /// The whole zone.
    Axfr,
    /// The changes since `serial` (the client's SOA; `None` when it sent
    /// none for this zone), over UDP or TCP.
    Ixfr { serial: Option<u32>, udp: bool },
}

fn net(e: impl std::fmt::Display) -> NetError {
    std::io::Error::other(e.to_string()).into()
}

/// Sends the message `make` builds, with a TSIG from `signer` when given
/// (the message is encoded once more to be signed).
pub(super) async fn send<'q, 'a, R, A, N, S, D>(
    response: &mut R,
    make: impl Fn() -> MessageResponse<'q, 'a, A, N, S, D>,
    signer: Option<&mut AnswerSigner>,
) -> Result<ResponseInfo, NetError>
where
    R: ResponseHandler,
    A: Iterator<Item = &'a Record> + Send + 'a,
    N: Iterator<Item = &'a Record> + Send + 'a,
    S: Iterator<Item = &'a Record> + Send + 'a,
    D: Iterator<Item = &'a Record> + Send + 'a,
{
    let mut message = make();
    if let Some(signer) = signer {
        let mut tbs = Vec::with_capacity(4096);
        make().destructive_emit(&mut BinEncoder::new(&mut tbs)).map_err(net)?;
        message.set_signature(signer.sign(&tbs, unix_now()).map_err(net)?);
    }
    response.send_response(message).await
}

/// The records of an AXFR (and of an IXFR answered in full): the SOA,
/// every other record, the SOA again.
fn whole(zone: &Zone) -> Vec<&Record> {
    let mut records = zone.records();
    records.push(zone.soa());
    records
}

/// Sends the transfer `kind` of `zone`.
#[tracing::instrument(name = "dns transfer", skip_all, fields(peer = %request.src(), ixfr = matches!(kind, Transfer::Ixfr { .. })))]
pub(super) async fn transfer<'q, R: ResponseHandler>(
    zone: &Zone,
    kind: Transfer,
    request: &'q Request,
    response: &mut R,
    builder: impl Fn() -> MessageResponseBuilder<'q>,
    mut signer: Option<&mut AnswerSigner>,
    master: &HiddenMaster,
) -> Result<ResponseInfo, NetError> {
    let soa = zone.soa();
    let (records, answer) = match &kind {
        Transfer::Axfr => (whole(zone), "axfr"),
        Transfer::Ixfr { serial, .. } => match serial.map(|s| zone.ixfr(s)) {
            Some(Ixfr::UpToDate) => (vec![soa], "up_to_date"),
            Some(Ixfr::Incremental { from, removed, added }) => {
                let mut records = Vec::with_capacity(removed.len() + added.len() + 4);
                records.extend([soa, from]);
                records.extend(removed);
                records.push(soa);
                records.extend(added);
                records.push(soa);
                (records, "incremental")
            }
            Some(Ixfr::Full) | None => (whole(zone), "full"),
        },
    };
    if let (Some(m), Transfer::Ixfr { .. }) = (&master.metrics, &kind) {
        m.ixfr.with_label_values(&[answer]).inc();
    }
    let mut metadata = Metadata::response_from_request(&request.metadata);
    metadata.authoritative = true;
    if let Transfer::Ixfr { udp: true, .. } = kind {
        // One datagram: the whole answer when it fits, else the current
        // SOA alone with TC set, so the client asks again over TCP.
        let room = if signer.is_some() { TSIG_ROOM } else { 0 };
        let limit = request.max_payload().max(512).saturating_sub(room);
        let fits = {
            let mut bytes = Vec::with_capacity(usize::from(limit));
            let mut encoder = BinEncoder::new(&mut bytes);
            encoder.set_max_size(limit);
            let message = builder().build(metadata, records.iter().copied(), NONE.iter(), NONE.iter(), NONE.iter());
            message.destructive_emit(&mut encoder).is_ok() && bytes.get(2).is_some_and(|flags| flags & 0x02 == 0)
        };
        if !fits {
            metadata.truncation = true;
        }
        let sent: &[&Record] = if fits {
            &records
        } else {
            std::slice::from_ref(&records[0])
        };
        let make = || builder().build(metadata, sent.iter().copied(), NONE.iter(), NONE.iter(), NONE.iter());
        return send(response, make, signer).await;
    }
    let mut last = None;
    for chunk in records.chunks(CHUNK) {
        let make = || builder().build(metadata, chunk.iter().copied(), NONE.iter(), NONE.iter(), NONE.iter());
        last = Some(send(response, make, signer.as_deref_mut()).await?);
    }
    tracing::info!(
        src = %request.src(),
        serial = zone.serial(),
        records = records.len(),
        answer,
        "dns: zone transferred"
    );
    last.ok_or_else(|| net("empty transfer"))
}
