//! TLS: certificates by SNI (ECDSA and RSA, from memory and from a real
//! store, replaced without restart), the fallback, resumption, ALPN with
//! HTTP/2, force_https and HSTS; handshake errors, HTTP/2 limits, HTTPS
//! origins and draining in [`protocol`].

mod protocol;

use crate::{HOST, Origin, conf_for};
use bytes::Bytes;
use cirrus_core::model::{CertBundle, Hsts, TlsMode};
use cirrus_core::{DomainConf, EdgeSource, RedisStore, StaticSource, Store};
use cirrus_edge::{Certificates, Edge, EdgeSettings};
use cirrus_test_support::{RedisServer, eventually};
use http::{Request, Response};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// A certificate authority the tests' clients trust.
pub(crate) struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl TestCa {
    pub(crate) fn new() -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        Self {
            issuer: CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap(),
        }
    }

    /// A leaf for `names`, ECDSA P-256 or RSA 2048.
    fn leaf(&self, names: &[&str], rsa: bool) -> CertBundle {
        let key = if rsa {
            KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap()
        } else {
            KeyPair::generate().unwrap()
        };
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let cert = CertificateParams::new(names)
            .unwrap()
            .signed_by(&key, &self.issuer)
            .unwrap();
        CertBundle::new(cert.pem() + &self.issuer.pem(), key.serialize_pem(), None)
    }

    /// A TLS server with a leaf of this CA for `names` (an HTTPS origin).
    pub(crate) fn acceptor(&self, names: &[&str]) -> tokio_rustls::TlsAcceptor {
        use rustls::pki_types::pem::PemObject;
        let leaf = self.leaf(names, false);
        let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(leaf.key.as_bytes()).unwrap();
        let server = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(vec![leaf_der(&leaf)], key)
            .unwrap();
        tokio_rustls::TlsAcceptor::from(Arc::new(server))
    }

    /// The CA's certificate, PEM (for `EdgeBuilder::origin_roots_pem`).
    pub(crate) fn pem(&self) -> String {
        self.issuer.pem()
    }

    fn root(&self) -> CertificateDer<'static> {
        self.issuer.der().clone()
    }

    fn client(&self, alpn: &[&[u8]]) -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        roots.add(self.root()).unwrap();
        let mut config = ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Arc::new(config)
    }
}

fn leaf_der(bundle: &CertBundle) -> CertificateDer<'static> {
    use rustls::pki_types::pem::PemObject;
    CertificateDer::pem_slice_iter(bundle.fullchain.as_bytes())
        .next()
        .unwrap()
        .unwrap()
}

struct TlsEdge {
    edge: Edge,
    http: SocketAddr,
    https: SocketAddr,
}

async fn start(confs: Vec<DomainConf>, certs: Certificates, settings: EdgeSettings) -> TlsEdge {
    let source = StaticSource::new();
    for conf in confs {
        source.put_domain(conf).unwrap();
    }
    start_on(Arc::new(source), certs, settings).await
}

async fn start_on(source: Arc<dyn EdgeSource>, certs: Certificates, settings: EdgeSettings) -> TlsEdge {
    let tls = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let plain = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (http, https) = (plain.local_addr().unwrap(), tls.local_addr().unwrap());
    let settings = EdgeSettings {
        https_port: https.port(),
        ..settings
    };
    let edge = Edge::builder(source)
        .settings(settings)
        .certificates(certs)
        .build()
        .unwrap();
    edge.load().await.unwrap();
    let (a, b) = (edge.clone(), edge.clone());
    tokio::spawn(async move { a.serve_tls(tls, std::future::pending()).await });
    tokio::spawn(async move { b.serve(plain, std::future::pending()).await });
    TlsEdge { edge, http, https }
}

async fn connect(addr: SocketAddr, sni: &str, config: Arc<ClientConfig>) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    TlsConnector::from(config)
        .connect(ServerName::try_from(sni.to_string()).unwrap(), tcp)
        .await
}

/// One HTTP/1.1 GET over `stream`.
async fn get_h1(stream: TlsStream<TcpStream>, host: &str, path: &str) -> Response<Bytes> {
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let req = Request::get(path)
        .header("host", host)
        .body(Empty::<Bytes>::new())
        .unwrap();
    collect(send.send_request(req).await.unwrap()).await
}

async fn collect(res: Response<Incoming>) -> Response<Bytes> {
    let (parts, body) = res.into_parts();
    Response::from_parts(parts, body.collect().await.unwrap().to_bytes())
}

fn peer_leaf(stream: &TlsStream<TcpStream>) -> CertificateDer<'static> {
    stream.get_ref().1.peer_certificates().unwrap()[0].clone().into_owned()
}

async fn metrics(edge: &Edge) -> String {
    let admin = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = admin.local_addr().unwrap();
    let e = edge.clone();
    let task = tokio::spawn(async move { e.serve_admin(admin, Default::default(), std::future::pending()).await });
    let text = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    task.abort();
    text
}

fn counter(metrics: &str, series: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0)
}

fn tls_conf(domain: &str, origin: &Origin) -> DomainConf {
    let mut conf = DomainConf::new(domain, format!("http://{}", origin.addr).parse().unwrap());
    conf.tls.mode = TlsMode::Manual;
    conf
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sni_picks_the_ecdsa_or_rsa_certificate_and_unknown_names_get_the_fallback() {
    let ca = TestCa::new();
    let origin = Origin::start().await;
    let (a, b) = (ca.leaf(&["a.test"], false), ca.leaf(&["b.test"], true));
    let certs = Certificates::self_signed().unwrap();
    certs.insert("a.test", &a).unwrap();
    certs.insert("b.test", &b).unwrap();
    let e = start(
        vec![tls_conf("a.test", &origin), tls_conf("b.test", &origin)],
        certs,
        EdgeSettings::default(),
    )
    .await;
    let client = ca.client(&[]);

    let stream = connect(e.https, "a.test", client.clone()).await.unwrap();
    assert_eq!(peer_leaf(&stream), leaf_der(&a), "ECDSA certificate of a.test");
    let res = get_h1(stream, "a.test", "/cached").await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.body().as_ref(), b"body of /cached");
    assert_eq!(
        origin.last_headers.lock().unwrap().as_ref().unwrap()["x-forwarded-proto"],
        "https"
    );

    let stream = connect(e.https, "b.test", client.clone()).await.unwrap();
    assert_eq!(peer_leaf(&stream), leaf_der(&b), "RSA certificate of b.test");

    // Names without a certificate get the self-signed fallback, which a
    // verifying client refuses.
    let refused = connect(e.https, "unknown.test", client.clone()).await;
    assert!(refused.is_err(), "the fallback is not trusted: {refused:?}");
    eventually("the refusal is counted", Duration::from_secs(5), || async {
        counter(
            &metrics(&e.edge).await,
            "nginx_ssl_handshake_errors_total{phase=\"handshake\"}",
        ) >= 1
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_come_from_the_store_at_sni_time_and_are_replaced_without_restart() {
    let redis = RedisServer::start();
    let store: Arc<dyn Store> = Arc::new(RedisStore::connect(&redis.url()).unwrap());
    let ca = TestCa::new();
    let origin = Origin::start().await;
    store.put_domain(&tls_conf("a.test", &origin)).await.unwrap();
    let first = ca.leaf(&["a.test"], false);
    store.put_cert("a.test", &first).await.unwrap();
    // A stored certificate that does not parse: the fallback is presented.
    store.put_domain(&tls_conf("broken.test", &origin)).await.unwrap();
    store
        .put_cert("broken.test", &CertBundle::new("junk", "junk", None))
        .await
        .unwrap();

    let certs = Certificates::self_signed().unwrap();
    let e = start_on(Arc::new(store.clone()), certs, EdgeSettings::default()).await;
    let synced = e.edge.clone();
    tokio::spawn(async move { synced.sync(std::future::pending()).await });
    let client = ca.client(&[]);
    eventually("the edge loads the domains", Duration::from_secs(5), || async {
        e.edge.domain_count() == 2
    })
    .await;
    assert!(
        e.edge.certificates().unwrap().is_empty(),
        "nothing is read before a handshake"
    );

    let stream = connect(e.https, "a.test", client.clone()).await.unwrap();
    assert_eq!(peer_leaf(&stream), leaf_der(&first));
    assert_eq!(e.edge.certificates().unwrap().len(), 1, "read at SNI time and kept");

    let second = ca.leaf(&["a.test"], true);
    store.put_cert("a.test", &second).await.unwrap();
    eventually("the new certificate is served", Duration::from_secs(5), || async {
        let stream = connect(e.https, "a.test", client.clone()).await.unwrap();
        peer_leaf(&stream) == leaf_der(&second)
    })
    .await;

    assert!(connect(e.https, "broken.test", client.clone()).await.is_err());
    let m = metrics(&e.edge).await;
    assert_eq!(
        counter(&m, "nginx_ssl_handshake_errors_total{phase=\"certificate\"}"),
        1,
        "{m}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alpn_picks_http2_or_http11_and_sessions_resume() {
    let ca = TestCa::new();
    let origin = Origin::start().await;
    let certs = Certificates::self_signed().unwrap();
    certs.insert(HOST, &ca.leaf(&[HOST], false)).unwrap();
    let e = start(vec![tls_conf(HOST, &origin)], certs, EdgeSettings::default()).await;

    // HTTP/2: several streams at once on one connection, cache shared with HTTP/1.1.
    let stream = connect(e.https, HOST, ca.client(&[b"h2", b"http/1.1"])).await.unwrap();
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (send, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let requests = (0..8).map(|i| {
        let mut send = send.clone();
        async move {
            let req = Request::get(format!("https://{HOST}/img/{}.png", if i % 2 == 0 { "a" } else { "b" }))
                .body(Empty::<Bytes>::new())
                .unwrap();
            collect(send.send_request(req).await.unwrap()).await
        }
    });
    let answers = futures_util::future::join_all(requests).await;
    for res in &answers {
        assert_eq!(res.status(), 200);
        assert_eq!(res.version(), http::Version::HTTP_2);
    }
    assert_eq!(answers[0].body().as_ref(), b"body of /img/a.png");
    assert_eq!(answers[1].body().as_ref(), b"body of /img/b.png");

    // HTTP/1.1 by ALPN, and without ALPN; the second handshake of the same
    // client resumes its session.
    let h1 = ca.client(&[b"http/1.1"]);
    let stream = connect(e.https, HOST, h1.clone()).await.unwrap();
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    assert_eq!(stream.get_ref().1.handshake_kind(), Some(rustls::HandshakeKind::Full));
    let res = get_h1(stream, HOST, "/img/a.png").await;
    assert_eq!(res.headers()["x-cache"], "HIT", "cached by the HTTP/2 request");
    let stream = connect(e.https, HOST, h1).await.unwrap();
    assert_eq!(
        stream.get_ref().1.handshake_kind(),
        Some(rustls::HandshakeKind::Resumed)
    );
    assert_eq!(get_h1(stream, HOST, "/cached").await.status(), 200);
    let stream = connect(e.https, HOST, ca.client(&[])).await.unwrap();
    assert_eq!(stream.get_ref().1.alpn_protocol(), None);
    assert_eq!(get_h1(stream, HOST, "/cached").await.status(), 200);
    let m = metrics(&e.edge).await;
    assert!(counter(&m, "cirrus_tls_handshakes_total{resumed=\"true\"}") >= 1, "{m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn force_https_redirects_plain_requests_and_hsts_rides_on_https() {
    let ca = TestCa::new();
    let origin = Origin::start().await;
    let mut conf = tls_conf(HOST, &origin);
    conf.tls.force_https = true;
    conf.tls.hsts = Some(Hsts {
        max_age: 31_536_000,
        include_subdomains: true,
        preload: false,
    });
    let certs = Certificates::self_signed().unwrap();
    certs.insert(HOST, &ca.leaf(&[HOST], false)).unwrap();
    let e = start(vec![conf], certs, EdgeSettings::default()).await;
    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let url = format!("http://{}/cached?x=1", e.http);
    let res = plain.get(&url).header("host", HOST).send().await.unwrap();
    assert_eq!(res.status(), 301);
    assert_eq!(
        res.headers()["location"],
        format!("https://{HOST}:{}/cached?x=1", e.https.port()).as_str()
    );
    assert!(res.headers().get("strict-transport-security").is_none());
    let res = plain.post(&url).header("host", HOST).body("x").send().await.unwrap();
    assert_eq!(res.status(), 308, "other methods keep their method and body");
    assert_eq!(origin.hits("/cached"), 0, "nothing reached the origin");

    let stream = connect(e.https, HOST, ca.client(&[])).await.unwrap();
    let res = get_h1(stream, HOST, "/cached").await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["strict-transport-security"],
        "max-age=31536000; includeSubDomains"
    );
}
