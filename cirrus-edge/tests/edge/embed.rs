//! What an embedder relies on: the edge mounted as a service in a plain
//! hyper server, the static source with no store, the access-log sinks and
//! a registry of their own, and graceful drain.

use crate::{EdgeUnderTest, HOST, Origin, conf_for};
use cirrus_core::{PurgeRequest, StaticSource};
use cirrus_edge::{Edge, EdgeSettings};
use cirrus_test_support::eventually;
use hyper_util::rt::TokioIo;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn the_service_runs_in_a_plain_hyper_server() {
    let origin = Origin::start().await;
    let source = StaticSource::new().with_domain(conf_for(&origin)).unwrap();
    let edge = Edge::builder(Arc::new(source)).build().unwrap();
    edge.load().await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mounted = edge.clone();
    tokio::spawn(async move {
        while let Ok((stream, peer)) = listener.accept().await {
            let service = mounted.service(peer, false);
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    let http = reqwest::Client::builder().resolve(HOST, addr).build().unwrap();
    let url = format!("http://{HOST}:{}/cached", addr.port());
    for expected in ["MISS", "HIT"] {
        let res = http.get(&url).send().await.unwrap();
        assert_eq!(res.headers()["x-cache"], expected);
        assert_eq!(res.text().await.unwrap(), "body of /cached");
    }
    let sent = origin.last_headers.lock().unwrap().clone().unwrap();
    assert_eq!(sent["x-forwarded-for"], "127.0.0.1", "the peer given to service()");
}

#[tokio::test]
async fn the_static_source_drives_an_edge_without_a_store() {
    let origin = Origin::start().await;
    let source = StaticSource::new();
    let edge = Edge::builder(Arc::new(source.clone())).build().unwrap();
    let e = EdgeUnderTest::serve(edge).await;
    assert_eq!(e.get("/cached").await.0, 404, "nothing configured yet");
    source.put_domain(conf_for(&origin)).unwrap();
    eventually("the domain is served", Duration::from_secs(5), || async {
        e.get("/cached").await.0 == 200
    })
    .await;
    assert_eq!(e.get("/cached").await.1, "HIT");
    source.purge(PurgeRequest::urls(HOST, ["/cached"]));
    eventually("the purge is applied", Duration::from_secs(5), || async {
        e.get("/cached").await.1 == "MISS"
    })
    .await;
    source.remove_domain(HOST);
    eventually("the domain is gone", Duration::from_secs(5), || async {
        e.get("/cached").await.0 == 404
    })
    .await;
}

#[tokio::test]
async fn access_log_sinks_and_an_embedders_registry() {
    let origin = Origin::start().await;
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let kept = lines.clone();
    let registry = prometheus::Registry::new();
    let source = StaticSource::new().with_domain(conf_for(&origin)).unwrap();
    let edge = Edge::builder(Arc::new(source))
        .access_log_fn(move |line| kept.lock().unwrap().push(line.to_string()))
        .registry(registry.clone())
        .build()
        .unwrap();
    let e = EdgeUnderTest::serve(edge).await;
    e.get("/cached").await;
    e.get("/cached").await;
    eventually("two lines logged", Duration::from_secs(5), || async {
        lines.lock().unwrap().len() == 2
    })
    .await;
    let line: serde_json::Value = serde_json::from_str(&lines.lock().unwrap()[1]).unwrap();
    assert_eq!(
        (&line["host"], &line["path"], &line["status"], &line["cache"]),
        (&"a.test".into(), &"/cached".into(), &200.into(), &"HIT".into())
    );
    // RFC 3339 with milliseconds, the same instant as the numeric `ts`.
    let time = line["time"].as_str().unwrap();
    assert!(
        time.len() == 24 && time.ends_with('Z') && time.as_bytes()[19] == b'.',
        "{time}"
    );
    let ts = line["ts"].as_f64().unwrap();
    let parsed = time::OffsetDateTime::parse(time, &time::format_description::well_known::Rfc3339).unwrap();
    assert!(
        (parsed.unix_timestamp_nanos() as f64 / 1e9 - ts).abs() < 0.002,
        "{time} vs {ts}"
    );
    // The seed's privacy rule: no query string, no header value, in the log.
    e.http
        .get(e.url("/cached?token=query-secret"))
        .header("authorization", "Bearer header-secret")
        .header("cookie", "session=cookie-secret")
        .send()
        .await
        .unwrap();
    eventually("the third line", Duration::from_secs(5), || async {
        lines.lock().unwrap().len() == 3
    })
    .await;
    let third = lines.lock().unwrap()[2].clone();
    let line: serde_json::Value = serde_json::from_str(&third).unwrap();
    assert_eq!(line["path"], "/cached", "{third}");
    assert!(!third.contains("secret"), "{third}");
    let families = registry.gather();
    let requests = families
        .iter()
        .find(|f| f.name() == "nginx_http_requests_total")
        .expect("registered in the embedder's registry");
    assert_eq!(requests.get_metric()[0].get_counter().get_value(), 3.0);
    assert!(
        Edge::builder(Arc::new(StaticSource::new()))
            .registry(registry)
            .build()
            .is_err(),
        "a second edge in the same registry is refused, not silently merged"
    );
    // A writer sink gets one line per request.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Shared {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let out = Shared::default();
    let source = StaticSource::new().with_domain(conf_for(&origin)).unwrap();
    let edge = Edge::builder(Arc::new(source)).access_log(out.clone()).build().unwrap();
    let e = EdgeUnderTest::serve(edge).await;
    e.get("/cached").await;
    eventually("a line written", Duration::from_secs(5), || async {
        out.0.lock().unwrap().ends_with(b"\n")
    })
    .await;
}

/// An edge on `listener` whose `serve` ends when the returned sender fires.
async fn drainable(
    origin: &Origin,
    drain_timeout: Duration,
) -> (
    EdgeUnderTest,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<cirrus_edge::Result<()>>,
) {
    let source = StaticSource::new().with_domain(conf_for(origin)).unwrap();
    let settings = EdgeSettings {
        drain_timeout,
        ..Default::default()
    };
    let edge = Edge::builder(Arc::new(source)).settings(settings).build().unwrap();
    edge.load().await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = edge.clone();
    let task = tokio::spawn(async move {
        served
            .serve(listener, async move {
                let _ = stopped.await;
            })
            .await
    });
    let http = reqwest::Client::builder().resolve(HOST, addr).build().unwrap();
    (EdgeUnderTest { edge, addr, http }, stop, task)
}

#[tokio::test]
async fn drain_lets_a_request_in_flight_finish_then_stops() {
    let origin = Origin::start().await;
    let (e, stop, task) = drainable(&origin, Duration::from_secs(5)).await;
    let slow = tokio::spawn({
        let (http, url) = (e.http.clone(), e.url("/slow"));
        async move { http.get(url).send().await.unwrap().text().await.unwrap() }
    });
    eventually(
        "the slow request reached the origin",
        Duration::from_secs(5),
        || async { origin.hits("/slow") == 1 },
    )
    .await;
    stop.send(()).unwrap();
    assert_eq!(slow.await.unwrap(), "slow but sure", "finished during the drain");
    tokio::time::timeout(Duration::from_secs(3), task)
        .await
        .expect("serve returns once drained")
        .unwrap()
        .unwrap();
    assert!(
        tokio::net::TcpStream::connect(e.addr).await.is_err(),
        "no new connection after shutdown"
    );
}

#[tokio::test]
async fn drain_closes_what_is_left_at_the_deadline() {
    let origin = Origin::start().await;
    let (e, stop, task) = drainable(&origin, Duration::from_millis(100)).await;
    let mut s = tokio::net::TcpStream::connect(e.addr).await.unwrap();
    s.write_all(b"GET /slow HTTP/1.1\r\nHost: a.test\r\n\r\n")
        .await
        .unwrap();
    eventually(
        "the slow request reached the origin",
        Duration::from_secs(5),
        || async { origin.hits("/slow") == 1 },
    )
    .await;
    let started = std::time::Instant::now();
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(3), task)
        .await
        .expect("serve returns at the deadline")
        .unwrap()
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_millis(550),
        "before the origin answered"
    );
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(2), s.read_to_end(&mut out)).await;
    assert!(
        out.is_empty(),
        "closed without an answer: {}",
        String::from_utf8_lossy(&out)
    );
}
