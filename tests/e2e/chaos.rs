//! Roles killed in the middle of their work: `cirrus api` SIGKILLed while
//! a client writes as fast as it can. Every write it acknowledged is in
//! the store afterwards, whole, and the store's list and its records
//! agree.

use crate::many_boxes::api;
use cirrus_client::Client;
use cirrus_core::DomainConf;
use cirrus_test_support::RedisServer;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[test]
fn the_api_killed_mid_write_loses_no_acknowledged_write() {
    let redis = RedisServer::start_with_aof();
    let dir = tempfile::tempdir().unwrap();
    let (mut first, url, token) = api(dir.path(), &redis.url());
    let token = token.expect("a master token");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let failed = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (acked, failed, stop) = (acked.clone(), failed.clone(), stop.clone());
        let client = Client::builder(&url).token(&token).build().unwrap();
        rt.spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let name = format!("d{i}.kill.test");
                let mut conf = DomainConf::new(&name, "http://192.0.2.10".parse().unwrap());
                conf.replicas = Some(1 + (i % 3) as u16);
                match client.put_domain(&conf).await {
                    Ok(_) => acked.lock().unwrap().push(name),
                    Err(_) => failed.lock().unwrap().push(name),
                }
                i += 1;
            }
        })
    };
    cirrus_test_support::until("writes acknowledged", Duration::from_secs(20), || {
        (acked.lock().unwrap().len() >= 200).then_some(())
    });
    first.kill();
    let killed = Instant::now();
    let before_kill = acked.lock().unwrap().len();
    cirrus_test_support::until("writes failing", Duration::from_secs(10), || {
        (!failed.lock().unwrap().is_empty()).then_some(())
    });
    stop.store(true, Ordering::Relaxed);
    rt.block_on(writer).unwrap();

    let (_second, url, again) = api(dir.path(), &redis.url());
    assert_eq!(again, None, "the store kept the master token");
    let restarted = killed.elapsed();
    let client = Client::builder(&url).token(&token).build().unwrap();
    let acked = acked.lock().unwrap().clone();
    let failed = failed.lock().unwrap().clone();
    let listed: Vec<String> = rt
        .block_on(client.all_domains())
        .unwrap()
        .into_iter()
        .map(|d| d.domain)
        .collect();
    for name in &acked {
        assert!(listed.contains(name), "acknowledged {name} is listed");
    }
    let mut in_flight_kept = 0;
    for name in &listed {
        let got = rt.block_on(client.get_domain(name)).unwrap();
        assert_eq!(got.conf.domain, *name, "every listed domain is whole");
        assert_eq!(got.conf.origins[0].host, "192.0.2.10");
        if failed.contains(name) {
            in_flight_kept += 1;
        }
    }
    assert!(
        listed.len() <= acked.len() + 1,
        "at most the one write in flight at the kill is there unacknowledged: {} listed, {} acknowledged",
        listed.len(),
        acked.len()
    );
    eprintln!(
        "api killed mid-write: {} writes acknowledged ({before_kill} before the kill), all present; {} refused while it was down, \
         {in_flight_kept} of them (in flight at the kill) present anyway; API back {restarted:?} after the kill",
        acked.len(),
        failed.len()
    );
}

/// libfaketime for a multi-threaded process, from Debian's `faketime`.
fn libfaketime() -> std::path::PathBuf {
    let found = std::fs::read_dir("/usr/lib")
        .unwrap()
        .flatten()
        .map(|d| d.path().join("faketime/libfaketimeMT.so.1"))
        .find(|p| p.exists());
    found.expect("libfaketime (scripts/test installs Debian's faketime)")
}

#[test]
fn an_edge_whose_clock_steps_an_hour_forward_then_back_keeps_serving_and_purging() {
    use cirrus_core::{DomainStore, PurgeLog, PurgeRequest};
    let redis = RedisServer::start();
    let origin = crate::harness::tiny_origin();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let store = rt
        .block_on(async { cirrus_core::RedisStore::connect(&redis.url()) })
        .unwrap();
    let conf = DomainConf::new("a.test", format!("http://{origin}").parse().unwrap());
    rt.block_on(store.put_domain(&conf)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let clock = dir.path().join("faketime");
    std::fs::write(&clock, "+0\n").unwrap();
    let mut cmd = crate::harness::Running::command(
        dir.path(),
        &[
            "edge",
            "--listen",
            "127.0.0.1:0",
            "--store",
            &redis.url(),
            "--no-access-log",
        ],
    );
    // The wall clock only: timers run on the monotonic one, which no step moves.
    cmd.env("LD_PRELOAD", libfaketime())
        .env("FAKETIME_TIMESTAMP_FILE", &clock)
        .env("FAKETIME_NO_CACHE", "1")
        .env("FAKETIME_DONT_FAKE_MONOTONIC", "1");
    let edge = crate::harness::Running::start(cmd);
    let addr = crate::harness::logged(&edge.stderr, "listening on http://");
    let x_cache = |answer: &str| {
        answer
            .lines()
            .find_map(|l| l.strip_prefix("x-cache: "))
            .unwrap_or("")
            .trim()
            .to_string()
    };
    cirrus_test_support::until("the domain served", Duration::from_secs(10), || {
        Some(crate::harness::get(&addr, "/hello")).filter(|a| a.starts_with("HTTP/1.1 200"))
    });
    assert_eq!(x_cache(&crate::harness::get(&addr, "/hello")), "HIT");

    let mut seen = Vec::new();
    for (step, expect_after) in [("+1h", "EXPIRED"), ("-1h", "HIT")] {
        std::fs::write(&clock, format!("{step}\n")).unwrap();
        // Forward, the stored copy is an hour old: fetched again. Back, the
        // copy fetched at +1h keeps its age (the monotonic clock's): a HIT.
        let first = crate::harness::get(&addr, "/hello");
        assert!(first.starts_with("HTTP/1.1 200"), "{step}: {first}");
        assert_eq!(x_cache(&first), expect_after, "{step}: {first}");
        let mut failed = 0;
        for _ in 0..100 {
            let a = crate::harness::get(&addr, "/hello");
            failed += usize::from(!(a.starts_with("HTTP/1.1 200") && x_cache(&a) == "HIT"));
        }
        assert_eq!(failed, 0, "{step}: every request a HIT");
        rt.block_on(store.publish_purge(&PurgeRequest::urls("a.test", ["/hello"])))
            .unwrap();
        let purged = Instant::now();
        cirrus_test_support::until(&format!("{step}: the purge applied"), Duration::from_secs(10), || {
            Some(crate::harness::get(&addr, "/hello")).filter(|a| x_cache(a) == "MISS")
        });
        seen.push(format!(
            "{step}: {} then 100 HITs, purge applied after {:?}",
            x_cache(&first),
            purged.elapsed()
        ));
    }
    eprintln!("clock steps on one edge: {}", seen.join("; "));
}

#[test]
fn a_secondary_cut_off_from_transfers_falls_behind_visibly_then_catches_up() {
    use cirrus_core::DomainStore;
    use cirrus_test_support::{Nsd, Relay, free_port, metric_value};
    let redis = RedisServer::start();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let store = rt
        .block_on(async { cirrus_core::RedisStore::connect(&redis.url()) })
        .unwrap();
    let put = |name: &str| {
        let conf = DomainConf::new(name, "http://192.0.2.10".parse().unwrap());
        rt.block_on(store.put_domain(&conf)).unwrap();
    };
    put("a.test");
    let master = std::net::SocketAddr::from(([127, 0, 0, 1], free_port()));
    // NSD transfers through a relay the test can cut; NOTIFYs reach it directly.
    let relay = rt.block_on(Relay::start(master));
    let nsd = Nsd::start("cdn.test", relay.addr);
    let dir = tempfile::tempdir().unwrap();
    let dns = crate::harness::Running::cirrus(
        dir.path(),
        &[
            "dns",
            "--listen",
            &master.to_string(),
            "--zone",
            "cdn.test",
            "--notify",
            &nsd.addr.to_string(),
            "--metrics-listen",
            "127.0.0.1:0",
            "--no-health-check",
            "--store",
            &redis.url(),
        ],
    );
    let admin = crate::harness::logged(&dns.stderr, "metrics on http://");
    let secondary = format!("cirrus_dns_secondary_serial{{secondary=\"{}\"}}", nsd.addr);
    let serials = || {
        let text = crate::harness::raw_get(&admin, "/metrics", "localhost");
        (
            metric_value(&text, "cirrus_dns_zone_serial").unwrap_or(0.0),
            metric_value(&text, &secondary).unwrap_or(0.0),
        )
    };
    cirrus_test_support::until("NSD has the zone", Duration::from_secs(30), || {
        let (zone, theirs) = serials();
        (zone > 0.0 && zone == theirs).then_some(())
    });

    relay.cut();
    let cut = Instant::now();
    put("b.test");
    let (zone, theirs) = cirrus_test_support::until("the lag in the metrics", Duration::from_secs(30), || {
        let (zone, theirs) = serials();
        (theirs > 0.0 && theirs < zone).then_some((zone, theirs))
    });
    let shown = cut.elapsed();
    std::thread::sleep(Duration::from_secs(3));
    let (_, still) = serials();
    assert_eq!(still, theirs, "NSD answers, but cannot transfer: it stays behind");

    relay.restore();
    let restored = Instant::now();
    put("c.test");
    cirrus_test_support::until("NSD caught up", Duration::from_secs(30), || {
        let (zone, theirs) = serials();
        (zone == theirs).then_some(())
    });
    eprintln!(
        "secondary cut off from transfers: serial {theirs} behind the master's {zone} in the metrics after {shown:?} \
         (what CirrusDnsSecondaryBehind reads); caught up {:?} after the relay came back",
        restored.elapsed()
    );
}
