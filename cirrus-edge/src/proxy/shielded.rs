//! A shielded domain's fill asks the owner edges of its key before the
//! origin (cirrus-edge's `shield` module chooses them): the same GET,
//! signed for the cluster, on the peer's HTTP listener. A peer that fails
//! (no connection, a timeout, a 5xx, a refused credential) is skipped and
//! the next one asked, then the origin: shielding never fails a request
//! the origin would have answered.

use super::request::Req;
use crate::cache::CacheKey;
use crate::error::{ErrorKind, ProxyError};
use crate::head::{Known, RequestHead};
use crate::hooks::EdgeHooks;
use crate::shield::{From, Peer, Signed};
use crate::upstream::{OriginResponse, Targets};

impl<H: EdgeHooks> Req<'_, H> {
    /// The owner edges to ask for the object of `key`, best first.
    pub(super) fn owners(&self, key: &CacheKey) -> Vec<Peer> {
        let upstream = &self.edge.upstream;
        self.edge.shield.owners(&self.conf.shield, key.text(), |peer| {
            upstream.all_down(&Targets::Only(peer.origin.clone()))
        })
    }

    /// `up` (an origin-form GET for the object) as a request to a peer:
    /// signed, and asking for the identity response when the domain
    /// compresses. `None` when this edge cannot sign.
    pub(super) fn peer_head(&self, up: &RequestHead) -> Option<RequestHead> {
        let what = Signed {
            method: up.method.as_str(),
            domain: &self.conf.domain,
            target: up.uri.path_and_query().map_or("/", |p| p.as_str()),
        };
        let credential = self.edge.shield.sign(what)?;
        let mut head = up.clone();
        // A node id, a number and hex digits: a valid field value.
        head.fields.insert_own(Known::CirrusShield, credential.as_bytes());
        if self.conf.cache.compress {
            // The identity response, which this edge stores once and
            // encodes for its own clients, rather than one variant per
            // client's `Accept-Encoding`.
            head.fields.remove(Known::AcceptEncoding);
        }
        Some(head)
    }

    /// `peer`'s answer, counted, when it is one to use; else the failure
    /// counted (and the caller goes on to the next owner or the origin).
    pub(super) fn peer_answered(
        &self,
        peer: &Peer,
        sent: Result<OriginResponse, ProxyError>,
    ) -> Option<OriginResponse> {
        let metrics = &self.edge.shield.metrics;
        match sent {
            Ok(mut res) if !res.head.status.is_server_error() && !res.head.fields.contains(Known::CirrusShield) => {
                let bytes = metrics.fetched(&self.conf.domain, From::Peer);
                res.body = res.body.counted(bytes);
                return Some(res);
            }
            Ok(res) => {
                tracing::info!(
                    peer = &*peer.id,
                    status = res.head.status.as_u16(),
                    "a shield peer failed: going on"
                );
                metrics.peer_failed(&peer.id, false);
            }
            Err(e) => {
                // The upstream marked a peer that could not be reached or
                // timed out down for `origin_down_for`, as an origin.
                let down = matches!(e.kind(), ErrorKind::OriginConnect | ErrorKind::OriginTimeout);
                tracing::info!(peer = &*peer.id, error = %e, down, "a shield peer failed: going on");
                metrics.peer_failed(&peer.id, down);
            }
        }
        None
    }
}
