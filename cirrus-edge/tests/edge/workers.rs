//! The per-core layout: `EdgeListeners::workers` serves on threads of
//! their own, each with its own listener on the shared address, and
//! stops with the rest of the edge.

use crate::{HOST, Origin, conf_for};
use cirrus_core::StaticSource;
use cirrus_core::lifecycle::Shutdown;
use cirrus_edge::head::ResponseHead;
use cirrus_edge::{Body, Edge, EdgeHooks, EdgeListeners, ProxyError, Session};
use http::Response;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

/// Says which thread answered, in `x-thread`.
struct Threads;

impl EdgeHooks for Threads {
    type Ctx = ();

    fn new_ctx(&self) -> Self::Ctx {}

    async fn request_filter(&self, _: &mut Session, (): &mut ()) -> Result<Option<Response<Body>>, ProxyError> {
        Ok(None)
    }

    async fn response_filter(&self, _: &Session, res: &mut ResponseHead, (): &mut ()) {
        let name = std::thread::current().name().unwrap_or("unnamed").to_string();
        res.fields.insert("x-thread", name).unwrap();
    }
}

#[tokio::test]
async fn workers_share_the_address_and_stop_with_the_edge() {
    let origin = Origin::start().await;
    let source = StaticSource::new().with_domain(conf_for(&origin)).unwrap();
    let edge = Edge::builder(Arc::new(source)).hooks(Threads).build().unwrap();
    let listener = cirrus_edge::bind_shared("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = Shutdown::new();
    let running = {
        let (edge, shutdown) = (edge.clone(), shutdown.clone());
        tokio::spawn(async move { edge.run(EdgeListeners::new(listener).workers(2), &shutdown).await })
    };
    let mut threads = BTreeSet::new();
    for _ in 0..200 {
        // A new connection each time, so the kernel spreads them.
        let client = reqwest::Client::builder().resolve(HOST, addr).build().unwrap();
        let res = client
            .get(format!("http://{HOST}:{}/cached", addr.port()))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        threads.insert(res.headers()["x-thread"].to_str().unwrap().to_string());
        if threads.len() == 2 {
            break;
        }
    }
    assert_eq!(
        threads,
        BTreeSet::from(["cirrus-edge-0".to_string(), "cirrus-edge-1".to_string()]),
        "both workers answered"
    );
    shutdown.trigger();
    let stopped = tokio::time::timeout(Duration::from_secs(10), running).await;
    assert!(matches!(stopped, Ok(Ok(Ok(())))), "the workers stopped: {stopped:?}");
}

#[tokio::test]
async fn workers_refuse_a_listener_that_cannot_be_shared() {
    let origin = Origin::start().await;
    let source = StaticSource::new().with_domain(conf_for(&origin)).unwrap();
    let edge = Edge::builder(Arc::new(source)).build().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let shutdown = Shutdown::new();
    let ran = tokio::time::timeout(
        Duration::from_secs(10),
        edge.run(EdgeListeners::new(listener).workers(2), &shutdown),
    )
    .await
    .expect("a worker that cannot bind stops the edge");
    let e = ran.expect_err("the second worker cannot bind").to_string();
    assert!(e.contains("bind_shared"), "{e}");
}
