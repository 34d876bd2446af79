//! A shielded domain's fill asks the owner edges of its key before the
//! origin (cirrus-edge's `shield` module chooses them): the same GET,
//! signed for the cluster, on the peer's HTTP listener. A peer that fails
//! (no connection, a timeout, a 5xx, a refused credential) is skipped and
//! the next one asked, then the origin: shielding never fails a request
//! the origin would have answered.

use super::request::Req;
use crate::cache::CacheKey;
use crate::error::ErrorKind;
use crate::head::{Known, RequestHead};
use crate::hooks::EdgeHooks;
use crate::shield::{From, Signed};
use crate::upstream::OriginResponse;

impl<H: EdgeHooks> Req<'_, H> {
    /// The first owner edge's answer to `up` (an origin-form GET for the
    /// object of `key`), if one answers without failing.
    pub(super) async fn ask_peers(&mut self, key: &CacheKey, up: &RequestHead) -> Option<OriginResponse> {
        let (edge, conf) = (self.edge, self.conf);
        let shield = &edge.shield;
        let upstream = &edge.upstream;
        let owners = shield.owners(&conf.shield, key.text(), |peer| upstream.is_down(&peer.origin));
        for peer in owners {
            let target = up.uri.path_and_query().map_or("/", |p| p.as_str());
            let what = Signed {
                method: up.method.as_str(),
                domain: &conf.domain,
                target,
            };
            let credential = shield.sign(what)?;
            let mut head = up.clone();
            // A node id, a number and hex digits: a valid field value.
            head.fields.insert_own(Known::CirrusShield, credential.as_bytes());
            if conf.cache.compress {
                // The identity response, which this edge stores once and
                // encodes for its own clients, rather than one variant
                // per client's `Accept-Encoding`.
                head.fields.remove(Known::AcceptEncoding);
            }
            let clock = self.session.clock();
            let sent = upstream.send_to_peer(&peer.origin, head, &mut self.upstream).await;
            self.exchanged("peer", clock, sent.as_ref().ok());
            match sent {
                Ok(mut res) if !res.head.status.is_server_error() && !res.head.fields.contains(Known::CirrusShield) => {
                    let bytes = shield.metrics.fetched(&conf.domain, From::Peer);
                    res.body = res.body.counted(bytes);
                    return Some(res);
                }
                Ok(res) => {
                    tracing::info!(
                        peer = &*peer.id,
                        status = res.head.status.as_u16(),
                        "a shield peer failed: going on"
                    );
                    shield.metrics.peer_failed(&peer.id, false);
                }
                Err(e) => {
                    // The upstream marked a peer that could not be reached
                    // or timed out down for `origin_down_for`, as an origin.
                    let down = matches!(e.kind(), ErrorKind::OriginConnect | ErrorKind::OriginTimeout);
                    tracing::info!(peer = &*peer.id, error = %e, down, "a shield peer failed: going on");
                    shield.metrics.peer_failed(&peer.id, down);
                }
            }
        }
        None
    }
}
