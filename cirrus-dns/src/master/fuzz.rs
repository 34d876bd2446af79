//! Fuzzed DNS messages through the master's own handler (what a query on
//! UDP or TCP reaches after hickory-server's parsing): it never panics, and
//! whatever it sends back is a well-formed response to the same id. The
//! same inputs through the UDP fast path: what it answers parses, and is
//! the answer the handler gives.

use super::{Handler, HiddenMaster, SharedZone};
use crate::zone::{Zone, ZoneInput, ZoneSettings};
use cirrus_core::{DomainConf, Node};
use hickory_proto::op::{Message, MessageType};
use hickory_proto::rr::Record;
use hickory_proto::serialize::binary::BinEncoder;
use hickory_server::net::NetError;
use hickory_server::net::runtime::TokioTime;
use hickory_server::net::xfer::Protocol;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponse;
use std::sync::{Arc, Mutex};

/// Keeps what the handler sends.
#[derive(Clone, Default)]
struct Sent(Arc<Mutex<Vec<Vec<u8>>>>);

#[async_trait::async_trait]
impl ResponseHandler for Sent {
    async fn send_response<'a>(
        &mut self,
        response: MessageResponse<
            '_,
            'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
        >,
    ) -> Result<ResponseInfo, NetError> {
        let mut bytes = Vec::new();
        let info = response.destructive_emit(&mut BinEncoder::new(&mut bytes))?;
        self.0.lock().expect("lock").push(bytes);
        Ok(info)
    }
}

fn handler() -> Handler {
    let settings = ZoneSettings::builder("cdn.test").build().expect("settings");
    let mut node = Node::new("edge-1");
    node.ipv4 = Some(std::net::Ipv4Addr::new(192, 0, 2, 1));
    let domains = vec![DomainConf::new(
        "www.example.com",
        "http://192.0.2.9".parse().expect("origin"),
    )];
    node.ipv6 = Some("2001:db8::1".parse().expect("v6"));
    let challenges = std::collections::BTreeMap::from([("www.example.com".to_string(), vec!["token-1".to_string()])]);
    let input = ZoneInput {
        domains: &domains,
        nodes: &[node],
        challenges: Some(&challenges),
    };
    let zone = Zone::build(input, &settings, 1).expect("zone");
    let master = HiddenMaster::builder(SharedZone::new(zone))
        .allow_transfer("127.0.0.0/8".parse().expect("allow list"))
        .build();
    Handler { master }
}

/// A query for `name` and `qtype` (wire format), as a resolver sends it.
fn query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut q = id.to_be_bytes().to_vec();
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.').filter(|l| !l.is_empty()) {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&[0, 1]);
    q
}

#[test]
fn fuzzed_messages_get_well_formed_answers_or_none() {
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    let handler = handler();
    let target = crate::target_name("www.example.com", &"cdn.test.".parse().expect("name"))
        .expect("target")
        .to_string();
    let mut with_edns = query(7, &target, 1);
    with_edns[11] = 1; // one additional record: an OPT
    with_edns.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]);
    let seeds: Vec<Vec<u8>> = vec![
        query(1, &target, 1),
        query(2, &target, 28),
        query(3, "cdn.test", 6),
        query(4, "cdn.test", 252),
        query(5, "nope.cdn.test", 255),
        query(6, "example.org", 1),
        query(8, "NoPe.cdn.test", 1),
        query(9, &target.to_uppercase(), 15),
        query(10, &target, 16),
        query(11, &format!("_acme-challenge.{target}"), 16),
        with_edns,
    ];
    let seeds: Vec<&[u8]> = seeds.iter().map(Vec::as_slice).collect();
    let (mut handled, mut answered, mut fast) = (0u64, 0u64, 0u64);
    let zone = handler.master.zone.get();
    let index = zone.wire().expect("the zone's answers encoded");
    let mut fast_out = Vec::new();
    let total = cirrus_test_support::fuzz::fuzz("dns message", &seeds, |input| {
        if super::fast::answer(index, input, &mut fast_out).is_some() {
            fast += 1;
            let quick =
                Message::from_vec(&fast_out).unwrap_or_else(|e| panic!("malformed fast answer to {input:?}: {e}"));
            let request = Request::from_bytes(input.to_vec(), "127.0.0.1:5353".parse().expect("addr"), Protocol::Udp)
                .unwrap_or_else(|e| panic!("the fast path answered what does not parse: {input:?}: {e}"));
            let sent = Sent::default();
            rt.block_on(handler.handle_request::<_, TokioTime>(&request, sent.clone()));
            let general = Message::from_vec(&sent.0.lock().expect("lock")[0]).expect("general answer");
            assert_eq!(
                cirrus_test_support::dns_summary(&quick),
                cirrus_test_support::dns_summary(&general),
                "{input:?}"
            );
        }
        let protocol = if input.len() % 2 == 0 {
            Protocol::Udp
        } else {
            Protocol::Tcp
        };
        let Ok(request) = Request::from_bytes(input.to_vec(), "127.0.0.1:5353".parse().expect("addr"), protocol) else {
            return; // hickory-server drops what it cannot parse as a message
        };
        handled += 1;
        let sent = Sent::default();
        rt.block_on(handler.handle_request::<_, TokioTime>(&request, sent.clone()));
        answered += u64::from(!sent.0.lock().expect("lock").is_empty());
        for bytes in sent.0.lock().expect("lock").iter() {
            let answer = Message::from_vec(bytes).unwrap_or_else(|e| panic!("malformed answer to {input:?}: {e}"));
            assert_eq!(answer.metadata.message_type, MessageType::Response);
            assert_eq!(answer.metadata.id, request.metadata.id);
        }
    });
    eprintln!(
        "dns message: {handled} of {total} inputs parsed as messages, {answered} answered, {fast} by the fast path"
    );
    assert!(fast * 10 > handled, "the fast path answered {fast} of {handled}");
    // Not a vacuous target: a good share of the mutations reach the handler.
    assert!(
        handled * 10 > total && answered * 2 > handled,
        "{handled} handled, {answered} answered"
    );
}
