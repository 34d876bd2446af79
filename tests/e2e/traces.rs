//! Traces end to end: `cirrus edge` and `cirrus api` export spans over
//! OTLP/HTTP to a receiver (test-support's, decoding with
//! opentelemetry-proto); the edge follows a trusted client's
//! `traceparent`, passes its own span to the origin as the parent, logs
//! the trace id and shows it as an exemplar; a collector that is down
//! costs the requests nothing and its spans are counted as dropped.

use crate::harness::{Running, logged};
use cirrus_test_support::{OtlpReceiver, RedisServer};
use std::time::Duration;

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER: &str = "00f067aa0ba902b7";

/// One GET with `Host: a.test` and `extra` header lines; the raw answer.
fn get_with(addr: &str, path: &str, extra: &str) -> String {
    crate::harness::try_get_with(addr, path, "a.test", extra).unwrap_or_default()
}

/// `cirrus edge` on `store` with `extra` flags, tracing every request to
/// `endpoint`; with its HTTP and admin addresses.
fn traced_edge(dir: &std::path::Path, endpoint: &str, store: &str, extra: &str) -> (Running, String, String) {
    let mut args = vec![
        "edge",
        "--listen",
        "127.0.0.1:0",
        "--metrics-listen",
        "127.0.0.1:0",
        "--store",
        store,
    ];
    args.push(extra);
    let edge = traced(dir, endpoint, &args);
    let addr = logged(&edge.stderr, "listening on http://");
    let admin = logged(&edge.stderr, "metrics on http://");
    (edge, addr, admin)
}

/// `cirrus ROLE` with `args`, tracing to `endpoint` at every request.
fn traced(dir: &std::path::Path, endpoint: &str, args: &[&str]) -> Running {
    let mut cmd = Running::command(dir, args);
    cmd.args(["--otlp-endpoint", endpoint, "--trace-sample-ratio", "1"]);
    Running::start(cmd)
}

#[test]
fn the_edge_joins_a_trusted_callers_trace_and_the_origin_joins_the_edges() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let receiver = rt.block_on(OtlpReceiver::start());
    let redis = RedisServer::start();
    let (origin, seen) = crate::harness::recording_origin();
    rt.block_on(async {
        let store = cirrus_core::RedisStore::connect(&redis.url()).unwrap();
        let conf = cirrus_core::DomainConf::new("a.test", format!("http://{origin}").parse().unwrap());
        cirrus_core::DomainStore::put_domain(&store, &conf).await.unwrap();
    });
    let dir = tempfile::tempdir().unwrap();
    let (edge, addr, admin) = traced_edge(dir.path(), &receiver.endpoint(), &redis.url(), "--trust-traceparent");
    crate::harness::until("the domain served", Duration::from_secs(10), || {
        Some(get_with(&addr, "/warm", "")).filter(|a| a.starts_with("HTTP/1.1 200"))
    });

    let parent = format!("traceparent: 00-{TRACE}-{CALLER}-01\r\ntracestate: vendor=1\r\n");
    let answer = get_with(&addr, "/traced", &parent);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    // The edge's server span: the caller's trace, the caller's span as parent.
    let within = Duration::from_secs(20);
    let server = rt.block_on(receiver.wait_for("the edge's span", within, |s| s.trace_id == TRACE && s.kind == 2));
    assert_eq!(server.parent_span_id, CALLER);
    assert_eq!((server.service.as_str(), server.name.as_str()), ("cirrus-edge", "GET"));
    assert_eq!(server.attribute("url.path"), Some("/traced"));
    assert_eq!(server.attribute("server.address"), Some("a.test"));
    assert_eq!(server.attribute("http.response.status_code"), Some("200"));
    assert_eq!(server.attribute("cirrus.cache_status"), Some("MISS"));
    assert_eq!(server.attribute("cirrus.tier"), Some("origin"));
    // The origin got the same trace with the edge's span as its parent.
    let sent: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|head| {
            head.lines()
                .find_map(|l| l.strip_prefix("traceparent: "))
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    let expected = format!("00-{TRACE}-{}-01", server.span_id);
    assert!(sent.contains(&expected), "{expected} not among {sent:?}");
    // The steps are the span's children; the new connection's under the exchange.
    let child = |name: &str, parent: &str| {
        let parent = parent.to_string();
        let name = name.to_string();
        rt.block_on(receiver.wait_for(&name.clone(), within, move |s| {
            s.trace_id == TRACE && s.name == name && s.parent_span_id == parent
        }))
    };
    child("cache lookup", &server.span_id);
    let exchange = child("origin", &server.span_id);
    assert_eq!(exchange.kind, 3, "a client span");
    assert!(exchange.start_unix_nano >= server.start_unix_nano && exchange.end_unix_nano <= server.end_unix_nano);
    // The first request opened the origin connection: its TCP connect is
    // a child of its exchange (the traced one reused the connection).
    let connect = rt.block_on(receiver.wait_for("a connect span", within, |s| s.name == "connect"));
    let spans = receiver.spans();
    let opened = spans
        .iter()
        .find(|s| s.span_id == connect.parent_span_id)
        .expect("its parent");
    assert_eq!(
        (opened.name.as_str(), opened.attribute("cirrus.connection")),
        ("origin", Some("new"))
    );
    assert_eq!(exchange.attribute("cirrus.connection"), Some("reused"));

    // The access log line carries the trace id.
    let line = edge.stdout_until(TRACE, within);
    let access: serde_json::Value = serde_json::from_str(line.last().unwrap()).unwrap();
    assert_eq!(
        (access["trace_id"].as_str(), access["path"].as_str()),
        (Some(TRACE), Some("/traced"))
    );

    // The duration histogram's exemplar, in OpenMetrics.
    let (kind, metrics) = rt.block_on(async {
        let res = reqwest::Client::new()
            .get(format!("http://{admin}/metrics"))
            .header("accept", "application/openmetrics-text; version=1.0.0")
            .send()
            .await
            .unwrap();
        let kind = res.headers()["content-type"].to_str().unwrap().to_string();
        (kind, res.text().await.unwrap())
    });
    assert!(kind.starts_with("application/openmetrics-text"), "{kind}");
    assert!(metrics.ends_with("# EOF\n"));
    assert!(
        metrics.lines().any(
            |l| l.starts_with("nginx_http_request_duration_seconds_bucket{host=\"a.test\"")
                && l.contains(&format!("# {{trace_id=\"{TRACE}\"}}"))
        ),
        "no exemplar in {metrics}"
    );
    // The Prometheus text is unchanged, and counts no dropped span.
    let plain = crate::harness::raw_get(&admin, "/metrics", "localhost");
    assert!(plain.contains("cirrus_otel_spans_dropped_total 0"), "{plain}");
    assert!(!plain.contains("trace_id"));

    // The API's request span, with its store calls as children.
    let (api, url) = {
        let mut cmd = Running::command(dir.path(), &["api", "--listen", "127.0.0.1:0", "--store", &redis.url()]);
        cmd.args(["--otlp-endpoint", &receiver.endpoint(), "--trace-sample-ratio", "1"]);
        cmd.env("CIRRUS_MASTER_TOKEN", "t0ken-for-the-traces-test");
        let api = Running::start(cmd);
        let url = format!("http://{}", logged(&api.stderr, "listening on http://"));
        (api, url)
    };
    let out = crate::harness::ctl(&url, "t0ken-for-the-traces-test", &["domain", "get", "a.test"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let request = rt.block_on(receiver.wait_for("the API's request span", within, |s| {
        s.service == "cirrus-api" && s.name == "GET /api/v1/domains/{domain}" && s.kind == 2
    }));
    let store_call = rt.block_on(receiver.wait_for("a store call under it", within, |s| {
        s.parent_span_id == request.span_id && s.attribute("db.system") == Some("redis")
    }));
    assert_eq!(store_call.trace_id, request.trace_id);
    assert_eq!(request.attribute("http.response.status_code"), Some("200"));
    drop(api);
}

#[test]
fn a_collector_that_is_down_costs_requests_nothing_and_its_spans_are_counted() {
    // A port that refuses connections: bound, then let go.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let (_edge, addr, admin) = traced_edge(dir.path(), &format!("http://{closed}"), &redis.url(), "--no-access-log");
    for _ in 0..20 {
        // No domain: each is answered 404 by the edge, at once.
        let answer = get_with(&addr, "/", "");
        assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
    }
    crate::harness::until("spans counted as dropped", Duration::from_secs(20), || {
        let metrics = crate::harness::raw_get(&admin, "/metrics", "localhost");
        let dropped: u64 = metrics
            .lines()
            .find_map(|l| l.strip_prefix("cirrus_otel_spans_dropped_total "))?
            .trim()
            .parse()
            .ok()?;
        (dropped >= 20).then_some(())
    });
}

#[test]
fn the_worker_traces_its_jobs_and_the_dns_role_its_rebuilds() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let receiver = rt.block_on(OtlpReceiver::start());
    let redis = RedisServer::start();
    rt.block_on(async {
        let store = cirrus_core::RedisStore::connect(&redis.url()).unwrap();
        let conf = cirrus_core::DomainConf::new("a.test", "http://192.0.2.1".parse().unwrap());
        cirrus_core::DomainStore::put_domain(&store, &conf).await.unwrap();
        let job = cirrus_core::model::NewJob::new(cirrus_core::jobs::ISSUE_CERT).for_domain("a.test");
        cirrus_core::JobQueue::enqueue(&store, &job).await.unwrap();
    });
    let dir = tempfile::tempdir().unwrap();
    let within = Duration::from_secs(30);
    let url = redis.url();
    let args: Vec<&str> = crate::dns::DNS.iter().copied().chain(["--store", &url]).collect();
    let dns = traced(dir.path(), &receiver.endpoint(), &args);
    let rebuild = rt.block_on(receiver.wait_for("a DNS rebuild", within, |s| s.name == "dns rebuild"));
    assert_eq!(rebuild.service, "cirrus-dns");
    assert!(
        receiver
            .spans()
            .iter()
            .any(|s| s.parent_span_id == rebuild.span_id && s.name.starts_with("redis")),
        "the rebuild's store reads are its children"
    );
    // A zone transfer (from a loopback address, allowed by default).
    let answer = crate::dns::tcp_answer(crate::dns::dns_addr(&dns.stderr), &crate::dns::axfr());
    assert!(!answer.is_empty());
    let transfer = rt.block_on(receiver.wait_for("the transfer's span", within, |s| s.name == "dns transfer"));
    assert_eq!(
        (transfer.attribute("ixfr"), transfer.attribute("peer").is_some()),
        (Some("false"), true)
    );

    // A resolver that answers nothing (a closed port): the delegation
    // check fails at once, and the job with it.
    let closed = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let _worker = traced(
        dir.path(),
        &receiver.endpoint(),
        &[
            "worker",
            "--metrics-listen",
            "127.0.0.1:0",
            "--store",
            &redis.url(),
            "--acme-directory",
            "http://127.0.0.1:1/directory",
            "--resolver",
            &closed.to_string(),
            "--zone",
            "cdn.test",
        ],
    );
    let job = rt.block_on(receiver.wait_for("the job's span", within, |s| s.name == "job"));
    assert_eq!(job.service, "cirrus-worker");
    assert_eq!(job.attribute("kind"), Some("issue_cert"));
    let issue = rt.block_on(receiver.wait_for("its ACME flow", within, |s| s.name == "acme issue"));
    assert_eq!(
        (issue.parent_span_id.as_str(), issue.attribute("domain")),
        (job.span_id.as_str(), Some("a.test"))
    );
}

#[test]
fn an_unknown_sampler_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Running::command(dir.path(), &["edge", "--otlp-endpoint", "http://127.0.0.1:1"]);
    let out = cmd.env("OTEL_TRACES_SAMPLER", "jaeger_remote").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("OTEL_TRACES_SAMPLER=jaeger_remote"), "{stderr}");
    let bad_ratio = Running::command(dir.path(), &["edge", "--trace-sample-ratio", "2"])
        .output()
        .unwrap();
    assert_eq!(bad_ratio.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad_ratio.stderr).contains("from 0 to 1"));
}

#[test]
fn the_standard_variables_name_the_endpoint_and_the_service_or_turn_traces_off() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let receiver = rt.block_on(OtlpReceiver::start());
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let url = redis.url();
    let edge = |env: &[(&str, String)], flags: &[&str]| {
        let mut args = vec!["edge", "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"];
        args.extend(["--store", &url, "--trace-sample-ratio", "1"]);
        args.extend_from_slice(flags);
        let mut cmd = Running::command(dir.path(), &args);
        cmd.envs(env.iter().map(|(k, v)| (*k, v.as_str())));
        let running = Running::start(cmd);
        let addr = logged(&running.stderr, "listening on http://");
        (running, addr)
    };
    // The signal's own endpoint, used as it is, and the service's name.
    let named = [
        (
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            format!("{}/v1/traces", receiver.endpoint()),
        ),
        ("OTEL_SERVICE_NAME", "edge-by-env".to_string()),
    ];
    let (_first, addr) = edge(&named, &[]);
    assert!(get_with(&addr, "/named", "").starts_with("HTTP/1.1 404"));
    rt.block_on(
        receiver.wait_for("a span of the named service", Duration::from_secs(20), |s| {
            s.service == "edge-by-env" && s.attribute("url.path") == Some("/named")
        }),
    );
    // OTEL_SDK_DISABLED wins over an endpoint: nothing is sent.
    let disabled = [("OTEL_SDK_DISABLED", "true".to_string())];
    let (_second, addr) = edge(&disabled, &["--otlp-endpoint", &receiver.endpoint()]);
    assert!(get_with(&addr, "/disabled", "").starts_with("HTTP/1.1 404"));
    // The first edge's spans arrive within a second (the batch delay); wait three.
    rt.block_on(cirrus_test_support::stays(
        "no span of the disabled edge",
        Duration::from_secs(3),
        || {
            std::future::ready(
                !receiver
                    .spans()
                    .iter()
                    .any(|s| s.attribute("url.path") == Some("/disabled")),
            )
        },
    ));
}
