//! [`Reply`]: a response as the edge makes, finishes and writes it — its
//! own head and a body — and the conversions at the `http` boundary
//! (hooks that answer with an `http::Response`, hyper's HTTP/2).

use crate::body::{Body, text};
use crate::head::ResponseHead;
use http::{Response, StatusCode};

/// A response head and its body.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) head: ResponseHead,
    pub(crate) body: Body,
}

impl Reply {
    pub(crate) fn new(head: ResponseHead, body: Body) -> Self {
        Self { head, body }
    }

    /// The reply as an `http` response. Every field the edge parsed or
    /// added converts; one that would not makes a 502 rather than a
    /// malformed answer.
    pub(crate) fn into_response(self) -> Response<Body> {
        match self.head.to_parts() {
            Ok(parts) => Response::from_parts(parts, self.body),
            Err(e) => {
                tracing::warn!(error = %e, "response head does not convert");
                text(StatusCode::BAD_GATEWAY, "bad response head\n")
            }
        }
    }
}

impl From<Response<Body>> for Reply {
    fn from(res: Response<Body>) -> Self {
        let (parts, body) = res.into_parts();
        Self::new(ResponseHead::from(parts), body)
    }
}
