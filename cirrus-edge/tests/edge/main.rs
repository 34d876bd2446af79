//! Integration tests of the edge: real sockets on 127.0.0.1:0, an in-process origin that counts what
//! reaches it, a real redis-server for the store-driven tests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    unreachable_pub,
    missing_debug_implementations
)]

mod cache;
mod chain;
mod chaos;
mod chaos_origin;
mod clients;
mod coalesce;
mod compress;
mod conformance;
mod embed;
mod framing;
mod health;
mod hooks;
mod hostile;
mod outage;
mod purge;
mod ranges;
mod shape;
mod shield;
mod slices;
mod stale;
mod store;
mod tls;
mod traces;
mod upstream;
mod workers;

use bytes::Bytes;
use cirrus_core::{DomainConf, StaticSource};
use cirrus_edge::{Edge, EdgeSettings};
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

pub const HOST: &str = "a.test";

/// An origin answering by path, counting requests per path.
pub struct Origin {
    pub addr: SocketAddr,
    hits: Arc<Mutex<HashMap<String, usize>>>,
    /// Body bytes sent, by path.
    sent: Arc<Mutex<HashMap<String, u64>>>,
    pub last_headers: Arc<Mutex<Option<http::HeaderMap>>>,
}

impl Origin {
    pub async fn start() -> Self {
        Self::start_with(None).await
    }

    /// An origin behind TLS when `tls` is given.
    pub async fn start_with(tls: Option<tokio_rustls::TlsAcceptor>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hits = Arc::new(Mutex::new(HashMap::new()));
        let sent = Arc::new(Mutex::new(HashMap::new()));
        let last_headers = Arc::new(Mutex::new(None));
        let (h, l, b) = (hits.clone(), last_headers.clone(), sent.clone());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (h, l, b, tls) = (h.clone(), l.clone(), b.clone(), tls.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                        let (h, l, b) = (h.clone(), l.clone(), b.clone());
                        async move {
                            let path = req.uri().path().to_string();
                            let res = answer(req, &h, &l).await;
                            let len = http_body::Body::size_hint(res.body()).exact().unwrap_or(0);
                            *b.lock().unwrap().entry(path).or_default() += len;
                            Ok::<_, std::convert::Infallible>(res)
                        }
                    });
                    let http = hyper::server::conn::http1::Builder::new();
                    let _ = match tls {
                        Some(tls) => match tls.accept(stream).await {
                            Ok(stream) => http.serve_connection(TokioIo::new(stream), service).await,
                            Err(_) => return,
                        },
                        None => http.serve_connection(TokioIo::new(stream), service).await,
                    };
                });
            }
        });
        Self {
            addr,
            hits,
            sent,
            last_headers,
        }
    }

    pub fn hits(&self, path: &str) -> usize {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }

    /// Body bytes sent for `path`.
    pub fn sent(&self, path: &str) -> u64 {
        self.sent.lock().unwrap().get(path).copied().unwrap_or(0)
    }
}

async fn answer(
    req: Request<Incoming>,
    hits: &Mutex<HashMap<String, usize>>,
    last: &Mutex<Option<http::HeaderMap>>,
) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_string();
    let nth = {
        let mut hits = hits.lock().unwrap();
        let n = hits.entry(path.clone()).or_default();
        *n += 1;
        *n
    };
    *last.lock().unwrap() = Some(req.headers().clone());
    let inm = req.headers().get("if-none-match").cloned();
    let range = req.headers().get("range").map(|v| v.to_str().unwrap().to_string());
    let lang = req
        .headers()
        .get("accept-language")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let method = req.method().clone();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let res = |status: u16, headers: &[(&str, &str)], body: Bytes| {
        let mut b = Response::builder().status(status);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(Full::new(body)).unwrap()
    };
    let text = |s: &str| Bytes::from(s.to_string());
    match path.as_str() {
        "/cached" | "/img/a.png" | "/img/b.png" => res(
            200,
            &[("cache-control", "max-age=60")],
            text(&format!("body of {path}")),
        ),
        "/tagged" => res(
            200,
            &[("cache-control", "max-age=60"), ("cache-tag", "t1 t2")],
            text("tagged"),
        ),
        // Tags in a domain's own field, beside one it does not read.
        "/tags-x" => res(
            200,
            &[
                ("cache-control", "max-age=60"),
                ("x-tags", "a,b"),
                ("surrogate-key", "s1"),
            ],
            text("x"),
        ),
        "/tags-y" => res(200, &[("cache-control", "max-age=60"), ("x-tags", "b c")], text("y")),
        "/tags-z" => {
            let long = format!("c {} z", "L".repeat(1100));
            let mut r = res(200, &[("cache-control", "max-age=60")], text("z"));
            r.headers_mut().insert("x-tags", long.parse().unwrap());
            r
        }
        // Fresh for a minute, stale usable for 30 s more; each answer numbered.
        "/soft-swr" => res(
            200,
            &[("cache-control", "max-age=60, stale-while-revalidate=30")],
            Bytes::from(format!("v{nth}")),
        ),
        "/nostore" => res(200, &[("cache-control", "no-store")], text("fresh every time")),
        "/private" => res(200, &[("cache-control", "private, max-age=60")], text("mine")),
        "/cookie" => res(
            200,
            &[("cache-control", "max-age=60"), ("set-cookie", "s=1")],
            text("cookie"),
        ),
        "/plain" => res(200, &[], text("no freshness information")),
        "/error" => res(500, &[], text("boom")),
        "/error-fresh" => res(503, &[("cache-control", "max-age=60")], text("down for a minute")),
        "/vary" => res(
            200,
            &[("cache-control", "max-age=60"), ("vary", "Accept-Language")],
            text(&format!("lang={lang}")),
        ),
        "/short" if inm.as_ref().is_some_and(|v| v == "\"v1\"") => {
            // The 304 carries a header the stored response lacks: it must be merged in.
            res(
                304,
                &[
                    ("cache-control", "max-age=1"),
                    ("etag", "\"v1\""),
                    ("x-refreshed", "yes"),
                ],
                Bytes::new(),
            )
        }
        "/short" => res(
            200,
            &[("cache-control", "max-age=1"), ("etag", "\"v1\"")],
            text("short-lived"),
        ),
        "/etag" => res(
            200,
            &[("cache-control", "max-age=60"), ("etag", "\"e1\"")],
            text("with etag"),
        ),
        "/chunked" => res(
            200,
            &[("cache-control", "max-age=60"), ("transfer-encoding", "chunked")],
            Bytes::from(vec![b'c'; 64 * 1024]),
        ),
        "/big" => res(
            200,
            &[("cache-control", "max-age=60")],
            Bytes::from(vec![b'x'; 1 << 20]),
        ),
        "/echo" => res(
            200,
            &[],
            Bytes::from(format!("{method} {}", String::from_utf8_lossy(&body))),
        ),
        "/slow" => {
            tokio::time::sleep(std::time::Duration::from_millis(600)).await;
            res(200, &[("cache-control", "no-store")], text("slow but sure"))
        }
        "/slow-cached" => {
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            res(200, &[("cache-control", "max-age=60")], text("worth the wait"))
        }
        // The first fetch outlives the edge's origin timeout; the next is quick.
        "/stalls-once" => {
            let pause = if nth == 1 { 2_000 } else { 100 };
            tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
            res(200, &[("cache-control", "max-age=60")], text("second time lucky"))
        }
        // Stale at once, refreshable in the background; each answer numbered.
        "/swr" => {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            let cc = "max-age=0, stale-while-revalidate=30";
            res(200, &[("cache-control", cc)], Bytes::from(format!("v{nth}")))
        }
        // Good once, then failing: by 503, or by stalling past the edge's origin timeout.
        "/sie" | "/sie-strict" | "/sie-stall" | "/flaps" => {
            let cc = match path.as_str() {
                "/sie-strict" => "max-age=0, must-revalidate, stale-if-error=60",
                "/flaps" => "max-age=0",
                _ => "max-age=0, stale-if-error=60",
            };
            if nth == 1 {
                res(200, &[("cache-control", cc)], text("good"))
            } else if path == "/sie-stall" {
                tokio::time::sleep(std::time::Duration::from_millis(2_000)).await;
                res(200, &[], text("too late"))
            } else {
                res(503, &[], text("down"))
            }
        }
        // 1 MiB that honours one byte range; /sliced-flip changes version
        // (its ETag) after its first answer; /sliced-slow takes 200 ms.
        "/sliced" | "/sliced-flip" | "/sliced-slow" => {
            if path == "/sliced-slow" {
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            let etag = if path == "/sliced-flip" && nth > 1 {
                "\"s2\""
            } else {
                "\"s1\""
            };
            let whole = crate::slices::object();
            let total = whole.len();
            let part = range.as_deref().and_then(|r| {
                let (a, b) = r.strip_prefix("bytes=")?.split_once('-')?;
                Some((a.parse::<usize>().ok()?, b.parse::<usize>().ok()?))
            });
            match part {
                Some((a, _)) if a >= total => res(416, &[("content-range", &format!("bytes */{total}"))], Bytes::new()),
                Some((a, b)) => {
                    let b = b.min(total - 1);
                    let cr = format!("bytes {a}-{b}/{total}");
                    let headers = [("cache-control", "max-age=60"), ("etag", etag), ("content-range", &cr)];
                    res(206, &headers, whole.slice(a..b + 1))
                }
                None => res(200, &[("cache-control", "max-age=60"), ("etag", etag)], whole),
            }
        }
        // Compressible or not, 4 KiB each.
        "/text" | "/png" | "/pregz" | "/notransform" => {
            let (ct, cc, ce) = match path.as_str() {
                "/text" => ("text/html; charset=utf-8", "max-age=60", None),
                "/png" => ("image/png", "max-age=60", None),
                "/pregz" => ("text/css", "max-age=60", Some("gzip")),
                _ => ("text/plain", "max-age=60, no-transform", None),
            };
            let mut headers = vec![("content-type", ct), ("cache-control", cc), ("etag", "\"t1\"")];
            headers.extend(ce.map(|e| ("content-encoding", e)));
            res(200, &headers, Bytes::from("<p>compress me</p>\n".repeat(200)))
        }
        // An origin that answers with a part whatever was asked.
        "/partial" => res(
            206,
            &[("cache-control", "max-age=60"), ("content-range", "bytes 0-3/10")],
            text("part"),
        ),
        "/aged" => res(200, &[("cache-control", "max-age=600"), ("age", "100")], text("aged")),
        "/aged-bad" => res(200, &[("cache-control", "max-age=600"), ("age", "-3")], text("aged")),
        "/cdn" => res(
            200,
            &[("cache-control", "no-store"), ("cdn-cache-control", "max-age=60")],
            text("for the cdn"),
        ),
        "/own" => res(
            200,
            &[("cdn-cache-control", "no-store"), ("x-own-cc", "max-age=60")],
            text("for this edge"),
        ),
        // A collection: POST creates an item and names it and the list.
        "/items" if method == http::Method::POST => res(
            201,
            &[
                ("location", "/items/1"),
                ("content-location", "http://A.test:8080/list"),
            ],
            text("created"),
        ),
        "/items" | "/items/1" | "/list" | "/other" => {
            res(200, &[("cache-control", "max-age=60")], text(&format!("list {path}")))
        }
        _ => res(404, &[], text("origin: not found")),
    }
}

/// An edge in front of `origins` for the domain `a.test`.
pub struct EdgeUnderTest<H: cirrus_edge::EdgeHooks = cirrus_edge::DefaultHooks> {
    pub edge: Edge<H>,
    pub addr: SocketAddr,
    pub http: reqwest::Client,
}

impl EdgeUnderTest {
    pub async fn start(conf: DomainConf) -> Self {
        Self::start_with(conf, EdgeSettings::default()).await
    }

    pub async fn start_with(conf: DomainConf, settings: EdgeSettings) -> Self {
        let source = StaticSource::new().with_domain(conf).unwrap();
        Self::serve(Edge::builder(Arc::new(source)).settings(settings).build().unwrap()).await
    }
}

impl<H: cirrus_edge::EdgeHooks> EdgeUnderTest<H> {
    /// Serves `edge` once its configuration is loaded, and keeps it in step with its source.
    pub async fn serve(edge: Edge<H>) -> Self {
        Self::serve_on(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(), edge).await
    }

    /// [`EdgeUnderTest::serve`] on a listener bound before the edge (whose origin may be itself).
    pub async fn serve_on(listener: tokio::net::TcpListener, edge: Edge<H>) -> Self {
        let addr = listener.local_addr().unwrap();
        let _ = edge.load().await;
        let (served, synced) = (edge.clone(), edge.clone());
        tokio::spawn(async move { served.serve(listener, std::future::pending()).await });
        tokio::spawn(async move { synced.sync(std::future::pending()).await });
        let http = reqwest::Client::builder().resolve(HOST, addr).build().unwrap();
        Self { edge, addr, http }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{HOST}:{}{path}", self.addr.port())
    }

    /// GET `path`; returns status, X-Cache and body.
    pub async fn get(&self, path: &str) -> (u16, String, String) {
        let res = self.http.get(self.url(path)).send().await.unwrap();
        let status = res.status().as_u16();
        let x_cache = res.headers().get("x-cache").map(|v| v.to_str().unwrap().to_string());
        let x_cache = x_cache.unwrap_or_default();
        (status, x_cache, res.text().await.unwrap())
    }
}

pub fn conf_for(origin: &Origin) -> DomainConf {
    DomainConf::new(HOST, format!("http://{}", origin.addr).parse().unwrap())
}
