//! An edge with logic of its own, on configuration in memory (no store):
//! answers get `X-Served-By`, `/admin` gets 403, `X-Canary` picks the canary
//! (cached apart from the main origin's answers), the origin is told which
//! proxy asks, and `/static/` answers lose their `Set-Cookie` so they can
//! be cached (the origin-side hooks work on the edge's own heads).
//!
//! Run: `cargo run --example custom_proxy -- 127.0.0.1:8080 http://127.0.0.1:9000 http://127.0.0.1:9001`,
//! then `curl -i -H 'Host: example.test' http://127.0.0.1:8080/`.

use cirrus::core::model::Origin;
use cirrus::core::{DomainConf, StaticSource};
use cirrus::edge::head::{Known, RequestHead, ResponseHead};
use cirrus::edge::http::{Response, StatusCode};
use cirrus::edge::{Body, CacheKey, Edge, EdgeHooks, ErrorKind, ProxyError, Session};
use std::sync::Arc;

/// The logic: a tag on every answer, a blocked path, a canary origin.
#[derive(Debug)]
pub struct Custom {
    canary: Origin,
}

impl EdgeHooks for Custom {
    type Ctx = ();
    fn new_ctx(&self) {}

    async fn request_filter(&self, s: &mut Session, _: &mut ()) -> Result<Option<Response<Body>>, ProxyError> {
        if !s.uri().path().starts_with("/admin") {
            return Ok(None);
        }
        let mut res = Response::new(Body::full("forbidden\n"));
        *res.status_mut() = StatusCode::FORBIDDEN;
        Ok(Some(res))
    }

    async fn select_origin(&self, s: &Session, _: &mut ()) -> Result<Option<Origin>, ProxyError> {
        Ok(s.headers().contains("x-canary").then(|| self.canary.clone()))
    }

    /// The canary answers differently from the main origin, so its answers
    /// get keys of their own: with the default key, one request carrying
    /// `X-Canary` would fill the cache with the canary's answer for every
    /// visitor (cache poisoning). Whatever picks the origin must be in the key.
    fn cache_key(&self, s: &Session, _: &mut ()) -> CacheKey {
        let key = CacheKey::for_session(s);
        if s.headers().contains("x-canary") {
            key.variant(&["x-canary".into()], s.headers())
        } else {
            key
        }
    }

    /// The origin learns which proxy asks. A field that could not be a
    /// header (CR, LF) is refused, so nothing a hook adds can split the head.
    async fn upstream_request_filter(&self, _: &Session, head: &mut RequestHead, _: &mut ()) -> Result<(), ProxyError> {
        head.fields
            .insert("x-proxy", "custom-proxy")
            .map_err(|e| ProxyError::new(ErrorKind::Internal, e.to_string()))
    }

    /// Static files are the same for everyone: a cookie the origin sets on
    /// them would keep them out of the shared cache, so it goes.
    fn upstream_response_filter(&self, s: &Session, head: &mut ResponseHead, _: &mut ()) {
        if s.uri().path().starts_with("/static/") {
            head.fields.remove(Known::SetCookie);
        }
    }

    async fn response_filter(&self, _: &Session, res: &mut ResponseHead, _: &mut ()) {
        res.fields.insert("x-served-by", "custom-proxy").expect("a valid field");
    }
}

/// The edge for `example.test` in front of `origin`, `canary` on demand.
pub async fn custom_edge(origin: Origin, canary: Origin) -> Result<Edge<Custom>, Box<dyn std::error::Error>> {
    let source = StaticSource::new().with_domain(DomainConf::new("example.test", origin))?;
    let edge = Edge::builder(Arc::new(source)).hooks(Custom { canary }).build()?;
    edge.load().await?;
    Ok(edge)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize, default: &str| args.get(i).map_or(default.to_string(), String::clone);
    let (origin, canary) = (arg(2, "http://127.0.0.1:9000"), arg(3, "http://127.0.0.1:9001"));
    let edge = custom_edge(origin.parse()?, canary.parse()?).await?;
    let listener = tokio::net::TcpListener::bind(arg(1, "127.0.0.1:8080")).await?;
    println!(
        "custom proxy on http://{} (Ctrl-C drains and stops)",
        listener.local_addr()?
    );
    // On Ctrl-C the edge stops accepting, finishes the requests in flight, then returns.
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    Ok(edge.serve(listener, ctrl_c).await?)
}
