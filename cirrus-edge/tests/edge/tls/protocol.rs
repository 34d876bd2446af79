//! TLS and HTTP/2 where they fail or end: handshake errors counted by
//! phase, HTTP/2 limits and a reset flood, HTTPS origins verified with the
//! configured server name, and a drain that sends GOAWAY.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_errors_are_counted_by_phase_and_never_stop_the_listener() {
    let ca = TestCa::new();
    let origin = Origin::start().await;
    let certs = Certificates::self_signed().unwrap();
    certs.insert(HOST, &ca.leaf(&[HOST], false)).unwrap();
    let settings = EdgeSettings {
        header_timeout: Duration::from_millis(300),
        ..EdgeSettings::default()
    };
    let e = start(vec![tls_conf(HOST, &origin)], certs, settings).await;

    // Plain HTTP on the TLS port, and random bytes.
    for junk in [
        &b"GET / HTTP/1.1\r\nHost: a.test\r\n\r\n"[..],
        &[0x16, 0x03, 0x01, 0xff, 0xff, 1, 2, 3][..],
    ] {
        let mut tcp = TcpStream::connect(e.https).await.unwrap();
        tcp.write_all(junk).await.unwrap();
        let mut buf = Vec::new();
        let _ = tokio::time::timeout(
            Duration::from_secs(5),
            tokio::io::AsyncReadExt::read_to_end(&mut tcp, &mut buf),
        )
        .await
        .expect("the edge closes the connection");
    }
    // A client that never says hello.
    let mut idle = TcpStream::connect(e.https).await.unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(
        Duration::from_secs(5),
        tokio::io::AsyncReadExt::read_to_end(&mut idle, &mut buf),
    )
    .await
    .expect("the edge closes a silent connection after the header timeout")
    .unwrap();

    let m = metrics(&e.edge).await;
    assert_eq!(
        counter(&m, "nginx_ssl_handshake_errors_total{phase=\"client_hello\"}"),
        2,
        "{m}"
    );
    assert_eq!(
        counter(&m, "nginx_ssl_handshake_errors_total{phase=\"timeout\"}"),
        1,
        "{m}"
    );
    let stream = connect(e.https, HOST, ca.client(&[])).await.unwrap();
    assert_eq!(get_h1(stream, HOST, "/cached").await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_limits_are_advertised_and_a_reset_flood_does_not_stop_the_edge() {
    let ca = TestCa::new();
    let origin = Origin::start().await;
    let certs = Certificates::self_signed().unwrap();
    certs.insert(HOST, &ca.leaf(&[HOST], false)).unwrap();
    let settings = EdgeSettings {
        h2_max_concurrent_streams: 16,
        ..EdgeSettings::default()
    };
    let e = start(vec![tls_conf(HOST, &origin)], certs, settings).await;

    let stream = connect(e.https, HOST, ca.client(&[b"h2"])).await.unwrap();
    let (client, conn) = h2::client::handshake(stream).await.unwrap();
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let mut client = client.ready().await.unwrap();
    // One answered request: the edge's SETTINGS have arrived by then.
    let req = Request::get(format!("https://{HOST}/cached")).body(()).unwrap();
    let (response, _) = client.send_request(req, true).unwrap();
    assert_eq!(response.await.unwrap().status(), 200);
    let mut client = client.ready().await.unwrap();
    assert_eq!(client.current_max_send_streams(), 16, "the stream limit is advertised");
    // Open and cancel streams as fast as possible (rapid reset, CVE-2023-44487).
    let mut refused = false;
    for _ in 0..20_000 {
        let req = Request::get(format!("https://{HOST}/cached")).body(()).unwrap();
        match client.send_request(req, true) {
            Ok((response, _)) => drop(response),
            Err(_) => {
                refused = true;
                break;
            }
        }
        client = match client.ready().await {
            Ok(c) => c,
            Err(_) => {
                refused = true;
                break;
            }
        };
    }
    assert!(refused, "the edge ends a connection that floods it with resets");
    // Whatever happened to that connection, a new one is served.
    let stream = connect(e.https, HOST, ca.client(&[])).await.unwrap();
    assert_eq!(get_h1(stream, HOST, "/cached").await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_origins_are_verified_with_the_configured_server_name() {
    let ca = TestCa::new();
    let origin = Origin::start_with(Some(ca.acceptor(&["origin.test"]))).await;

    let mut conf = conf_for(&origin);
    let mut o: cirrus_core::model::Origin = format!("https://{}", origin.addr).parse().unwrap();
    o.sni = Some("origin.test".into());
    conf.origins = vec![o];
    let source = StaticSource::new().with_domain(conf.clone()).unwrap();
    let edge = Edge::builder(Arc::new(source.clone()))
        .origin_roots_pem(&ca.pem())
        .unwrap()
        .build()
        .unwrap();
    let e = crate::EdgeUnderTest::serve(edge).await;
    let (status, _, body) = e.get("/cached").await;
    assert_eq!((status, body.as_str()), (200, "body of /cached"));
    assert_eq!(origin.hits("/cached"), 1);

    // Without the server name the certificate does not cover 127.0.0.1: refused.
    let mut wrong = conf.clone();
    wrong.origins[0].sni = None;
    source.put_domain(wrong).unwrap();
    eventually("the edge takes the change", Duration::from_secs(5), || async {
        e.edge.revision() == 2
    })
    .await;
    let (status, _, _) = e.get("/etag").await;
    assert_eq!(status, 502);
    assert_eq!(origin.hits("/etag"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_sends_http2_goaway_and_lets_the_stream_in_flight_finish() {
    let ca = TestCa::new();
    let origin = Origin::start().await;
    let certs = Certificates::self_signed().unwrap();
    certs.insert(HOST, &ca.leaf(&[HOST], false)).unwrap();
    let source = StaticSource::new().with_domain(tls_conf(HOST, &origin)).unwrap();
    let edge = Edge::builder(Arc::new(source)).certificates(certs).build().unwrap();
    edge.load().await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(async move {
        edge.serve_tls(listener, async move {
            let _ = stopped.await;
        })
        .await
    });
    let stream = connect(addr, HOST, ca.client(&[b"h2"])).await.unwrap();
    let (client, conn) = h2::client::handshake(stream).await.unwrap();
    let conn = tokio::spawn(conn);
    let mut client = client.ready().await.unwrap();
    let req = Request::get(format!("https://{HOST}/slow")).body(()).unwrap();
    let (response, _) = client.send_request(req, true).unwrap();
    eventually(
        "the slow request reached the origin",
        Duration::from_secs(5),
        || async { origin.hits("/slow") == 1 },
    )
    .await;
    stop.send(()).unwrap();
    let response = response.await.unwrap();
    assert_eq!(response.status(), 200, "the stream in flight finishes");
    let mut body = response.into_body();
    let mut got = Vec::new();
    while let Some(chunk) = body.data().await {
        got.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(got, b"slow but sure");
    // GOAWAY: the connection ends cleanly, and the listener with it.
    tokio::time::timeout(Duration::from_secs(3), conn)
        .await
        .expect("the edge ends the connection after GOAWAY")
        .unwrap()
        .expect("a graceful end, not an error");
    tokio::time::timeout(Duration::from_secs(3), served)
        .await
        .expect("serve_tls returns once drained")
        .unwrap()
        .unwrap();
}
