//! Every `EdgeHooks` phase changes what it says, one test each, through a
//! hooks type whose behaviour is chosen by request headers.

use crate::{EdgeUnderTest, Origin, conf_for};
use cirrus_core::StaticSource;
use cirrus_edge::{
    Body, CacheKey, CacheStatus, CachedResponse, Edge, EdgeHooks, ErrorKind, HitDecision, ProxyError, RequestSummary,
    Session,
    head::{RequestHead, ResponseHead},
};
use http::{Response, StatusCode};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the logging hook saw: status and cache status of each request.
type Logged = Arc<Mutex<Vec<(u16, Option<CacheStatus>)>>>;

/// Hooks steered by `x-test-*` request headers; the phases each request
/// went through are kept in its context and sent back in `x-phases`.
struct Probe {
    other_origin: cirrus_core::model::Origin,
    logged: Logged,
}

fn asked(session: &Session, name: &str) -> bool {
    session.headers().contains(name)
}

impl EdgeHooks for Probe {
    type Ctx = Vec<&'static str>;

    fn new_ctx(&self) -> Self::Ctx {
        Vec::new()
    }

    async fn request_filter(
        &self,
        session: &mut Session,
        ctx: &mut Self::Ctx,
    ) -> Result<Option<Response<Body>>, ProxyError> {
        ctx.push("request");
        if session.uri().path() == "/blocked" {
            let mut res = Response::new(Body::full("blocked by a hook\n"));
            *res.status_mut() = StatusCode::FORBIDDEN;
            return Ok(Some(res));
        }
        if asked(session, "x-test-refuse") {
            return Err(
                ProxyError::new(ErrorKind::Internal, "refused").with_status(StatusCode::UNAVAILABLE_FOR_LEGAL_REASONS)
            );
        }
        Ok(None)
    }

    fn cache_key(&self, session: &Session, ctx: &mut Self::Ctx) -> CacheKey {
        ctx.push("key");
        if asked(session, "x-test-key-without-query") {
            let conf = session.domain().expect("routed");
            return CacheKey::new(&conf.domain, session.uri().path(), session.headers(), &conf.cache.key);
        }
        CacheKey::for_session(session)
    }

    fn cache_hit_filter(&self, session: &Session, _: &CachedResponse, ctx: &mut Self::Ctx) -> HitDecision {
        ctx.push("hit");
        if asked(session, "x-test-miss") {
            HitDecision::Miss
        } else if asked(session, "x-test-expire") {
            HitDecision::Expire
        } else {
            HitDecision::Serve
        }
    }

    async fn select_origin(
        &self,
        session: &Session,
        ctx: &mut Self::Ctx,
    ) -> Result<Option<cirrus_core::model::Origin>, ProxyError> {
        ctx.push("origin");
        Ok(asked(session, "x-test-other-origin").then(|| self.other_origin.clone()))
    }

    async fn upstream_request_filter(
        &self,
        _: &Session,
        request: &mut RequestHead,
        ctx: &mut Self::Ctx,
    ) -> Result<(), ProxyError> {
        ctx.push("upstream-request");
        request.fields.insert("x-from-hook", "1").expect("a valid field");
        Ok(())
    }

    fn upstream_response_filter(&self, session: &Session, response: &mut ResponseHead, ctx: &mut Self::Ctx) {
        ctx.push("upstream-response");
        if session.uri().path() == "/nostore" {
            response
                .fields
                .insert("cache-control", "max-age=60")
                .expect("a valid field");
        }
    }

    async fn response_filter(&self, _: &Session, response: &mut ResponseHead, ctx: &mut Self::Ctx) {
        ctx.push("response");
        response
            .fields
            .insert("x-phases", ctx.join(","))
            .expect("a valid field");
    }

    fn error_response(&self, _: &Session, error: &ProxyError, ctx: &mut Self::Ctx) -> Response<Body> {
        ctx.push("error");
        let mut res = Response::new(Body::full(format!("custom page: {}\n", error.message())));
        *res.status_mut() = error.status();
        res
    }

    fn logging(&self, _: &Session, summary: &RequestSummary, _: &mut Self::Ctx) {
        self.logged
            .lock()
            .unwrap()
            .push((summary.status.as_u16(), summary.cache));
    }
}

struct Fixture {
    e: EdgeUnderTest<Probe>,
    origin: Origin,
    other: Origin,
    logged: Logged,
}

async fn fixture() -> Fixture {
    let (origin, other) = (Origin::start().await, Origin::start().await);
    let logged = Arc::new(Mutex::new(Vec::new()));
    let hooks = Probe {
        other_origin: format!("http://{}", other.addr).parse().unwrap(),
        logged: logged.clone(),
    };
    let source = StaticSource::new().with_domain(conf_for(&origin)).unwrap();
    let edge = Edge::builder(Arc::new(source)).hooks(hooks).build().unwrap();
    let e = EdgeUnderTest::serve(edge).await;
    Fixture {
        e,
        origin,
        other,
        logged,
    }
}

impl Fixture {
    async fn get(&self, path: &str, asks: &[&str]) -> reqwest::Response {
        let mut req = self.e.http.get(self.e.url(path));
        for h in asks {
            req = req.header(*h, "1");
        }
        req.send().await.unwrap()
    }
}

fn header(res: &reqwest::Response, name: &str) -> String {
    res.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

#[tokio::test]
async fn request_filter_answers_early() {
    let f = fixture().await;
    let res = f.get("/blocked", &[]).await;
    assert_eq!(res.status(), 403);
    assert_eq!(
        header(&res, "x-phases"),
        "request,response",
        "nothing after the early answer"
    );
    assert_eq!(res.text().await.unwrap(), "blocked by a hook\n");
    assert_eq!(f.origin.hits("/blocked"), 0);
}

#[tokio::test]
async fn error_response_makes_the_page_of_a_refused_or_failed_request() {
    let f = fixture().await;
    let res = f.get("/cached", &["x-test-refuse"]).await;
    assert_eq!(res.status(), 451);
    assert_eq!(header(&res, "x-phases"), "request,error,response");
    assert_eq!(res.text().await.unwrap(), "custom page: refused\n");
    // An origin failure goes through the same page.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut conf = conf_for(&f.origin);
    conf.origins = vec![format!("http://{dead}").parse().unwrap()];
    let source = StaticSource::new().with_domain(conf).unwrap();
    let hooks = Probe {
        other_origin: conf_for(&f.other).origins[0].clone(),
        logged: Arc::default(),
    };
    let e = EdgeUnderTest::serve(Edge::builder(Arc::new(source)).hooks(hooks).build().unwrap()).await;
    let res = e.http.get(e.url("/cached")).send().await.unwrap();
    assert_eq!(res.status(), 502);
    assert_eq!(res.text().await.unwrap(), "custom page: origin unreachable\n");
}

#[tokio::test]
async fn cache_key_decides_what_shares_an_entry() {
    let f = fixture().await;
    let key = ["x-test-key-without-query"];
    assert_eq!(header(&f.get("/cached?a=1", &key).await, "x-cache"), "MISS");
    assert_eq!(
        header(&f.get("/cached?b=2", &key).await, "x-cache"),
        "HIT",
        "the query is not keyed"
    );
    assert_eq!(
        header(&f.get("/cached?b=2", &[]).await, "x-cache"),
        "MISS",
        "the default key has it"
    );
}

#[tokio::test]
async fn cache_hit_filter_forces_a_miss_or_an_expiry() {
    let f = fixture().await;
    f.get("/cached", &[]).await;
    let hit = f.get("/cached", &[]).await;
    assert_eq!(header(&hit, "x-cache"), "HIT");
    assert_eq!(header(&hit, "x-phases"), "request,key,hit,response");
    assert_eq!(header(&f.get("/cached", &["x-test-miss"]).await, "x-cache"), "MISS");
    assert_eq!(
        header(&f.get("/cached", &["x-test-expire"]).await, "x-cache"),
        "EXPIRED"
    );
    assert_eq!(f.origin.hits("/cached"), 3);
}

#[tokio::test]
async fn select_origin_overrides_the_weighted_choice() {
    let f = fixture().await;
    let res = f.get("/echo", &["x-test-other-origin"]).await;
    assert_eq!(res.status(), 200);
    assert_eq!((f.other.hits("/echo"), f.origin.hits("/echo")), (1, 0));
    f.get("/echo", &[]).await;
    assert_eq!(f.origin.hits("/echo"), 1);
}

#[tokio::test]
async fn upstream_request_filter_changes_what_the_origin_gets() {
    let f = fixture().await;
    let res = f.get("/cached", &[]).await;
    assert_eq!(
        header(&res, "x-phases"),
        "request,key,origin,upstream-request,upstream-response,response"
    );
    let sent = f.origin.last_headers.lock().unwrap().clone().unwrap();
    assert_eq!(sent["x-from-hook"], "1");
}

#[tokio::test]
async fn upstream_response_filter_changes_what_is_stored() {
    let f = fixture().await;
    assert_eq!(header(&f.get("/nostore", &[]).await, "x-cache"), "MISS");
    let res = f.get("/nostore", &[]).await;
    assert_eq!(header(&res, "x-cache"), "HIT", "stored as the hook left it");
    assert_eq!(header(&res, "cache-control"), "max-age=60");
    assert_eq!(f.origin.hits("/nostore"), 1);
}

#[tokio::test]
async fn response_filter_sees_every_answer() {
    let f = fixture().await;
    for path in ["/cached", "/cached", "/echo"] {
        assert!(
            header(&f.get(path, &[]).await, "x-phases").ends_with("response"),
            "{path}"
        );
    }
    let unknown = reqwest::get(format!("http://{}/cached", f.e.addr)).await.unwrap();
    assert_eq!(unknown.status(), 404);
    assert_eq!(header(&unknown, "x-phases"), "error,response", "even before routing");
}

#[tokio::test]
async fn logging_comes_last_with_the_summary() {
    let f = fixture().await;
    f.get("/cached", &[]).await;
    f.get("/cached", &[]).await;
    f.get("/blocked", &[]).await;
    let expected = [
        (200, Some(CacheStatus::Miss)),
        (200, Some(CacheStatus::Hit)),
        (403, None),
    ];
    cirrus_test_support::eventually("three requests logged", Duration::from_secs(5), || async {
        f.logged.lock().unwrap().len() == 3
    })
    .await;
    assert_eq!(f.logged.lock().unwrap()[..], expected);
}
