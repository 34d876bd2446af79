use super::*;
use std::net::{Ipv4Addr, Ipv6Addr};

fn node(id: &str, last: u8, active: bool) -> Node {
    let mut n = Node::new(id);
    n.ipv4 = Some(Ipv4Addr::new(198, 51, 100, last));
    n.ipv6 = Some(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, u16::from(last)));
    n.active = active;
    n
}

fn domain(name: &str) -> DomainConf {
    DomainConf::new(name, "http://192.0.2.1".parse().expect("origin"))
}

fn settings() -> ZoneSettings {
    ZoneSettings::builder("cdn.example.net")
        .nameserver("ns1.example.net")
        .nameserver("ns2.example.net")
        .replicas_per_site(2)
        .ttl(30)
        .build()
        .expect("settings")
}

/// The zone of `domains` and `nodes` (no challenges).
fn build(domains: &[DomainConf], nodes: &[Node], settings: &ZoneSettings, serial: u32) -> Zone {
    let input = ZoneInput {
        domains,
        nodes,
        challenges: None,
    };
    Zone::build(input, settings, serial).expect("zone")
}

fn lower(name: &Name) -> LowerName {
    LowerName::from(name)
}

/// The A addresses of `domain` in `zone`.
fn addresses(zone: &Zone, settings: &ZoneSettings, domain: &str) -> Vec<Ipv4Addr> {
    let name = target_name(domain, settings.origin()).expect("target");
    match zone.lookup(&lower(&name), RecordType::A) {
        Lookup::Found(records) => records
            .iter()
            .filter_map(|r| match &r.data {
                RData::A(a) => Some(a.0),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

#[test]
fn apex_has_soa_and_ns_and_each_domain_its_nodes() {
    let s = settings();
    let nodes = [node("a", 1, true), node("b", 2, true), node("c", 3, true)];
    let domains = [domain("www.example.com"), domain("shop.example.org")];
    let zone = build(&domains, &nodes, &s, 7);
    assert_eq!(zone.serial(), 7);
    let apex = lower(s.origin());
    match zone.lookup(&apex, RecordType::NS) {
        Lookup::Found(ns) => assert_eq!(ns.len(), 2),
        other => panic!("{other:?}"),
    }
    match zone.lookup(&apex, RecordType::SOA) {
        Lookup::Found(soa) => assert!(
            soa[0]
                .to_string()
                .contains("ns1.example.net. hostmaster.cdn.example.net. 7")
        ),
        other => panic!("{other:?}"),
    }
    for d in ["www.example.com", "shop.example.org"] {
        let a = addresses(&zone, &s, d);
        assert_eq!(a.len(), 2, "{d}: two nodes");
        let name = target_name(d, s.origin()).expect("target");
        assert!(matches!(zone.lookup(&lower(&name), RecordType::AAAA), Lookup::Found(r) if r.len() == 2));
        assert_eq!(zone.lookup(&lower(&name), RecordType::MX), Lookup::NoData);
    }
    // SOA + 2 NS + 2 domains × (2 A + 2 AAAA).
    assert_eq!(zone.len(), 11);
    let missing = Name::from_ascii("nothing.cdn.example.net.").expect("name");
    assert_eq!(zone.lookup(&lower(&missing), RecordType::A), Lookup::NxDomain);
    let outside = Name::from_ascii("www.example.com.").expect("name");
    assert_eq!(zone.lookup(&lower(&outside), RecordType::A), Lookup::NotInZone);
    let text = zone.to_string();
    assert_eq!(text.lines().filter(|l| l.contains(" IN A ")).count(), 4, "{text}");
    assert!(
        text.lines().nth(1).is_some_and(|l| l.contains(" SOA ")),
        "SOA first: {text}"
    );
}

#[test]
fn target_names_are_stable_readable_and_valid() {
    let origin = settings().origin().clone();
    let t = target_name("WWW.Example.com.", &origin).expect("target");
    assert_eq!(t, target_name("www.example.com", &origin).expect("target"));
    assert!(t.to_string().starts_with("www-example-com-"), "{t}");
    assert!(t.to_string().ends_with(".cdn.example.net."), "{t}");
    // Frozen: changing it would break every customer's CNAME.
    assert_eq!(t.to_string(), "www-example-com-41284eb5bfdf32e5.cdn.example.net.");
    let long = format!("{}.example.com", "a".repeat(60));
    let t = target_name(&long, &origin).expect("a long domain still fits one label");
    assert!(t.iter().next().is_some_and(|l| l.len() <= 63));
    assert_ne!(
        target_name("a-b.example.com", &origin).expect("t"),
        target_name("a.b-example.com", &origin).expect("t"),
        "the hash tells apart domains that read alike"
    );
}

#[test]
fn idn_domains_get_valid_target_names() {
    let origin = settings().origin().clone();
    for domain in [
        "xn--bcher-kva.test",
        "xn--e28h.test",
        "ab--cd.example",
        "xn--bcher-kva.xn--e28h.test",
    ] {
        let t = target_name(domain, &origin).unwrap_or_else(|e| panic!("{domain}: {e}"));
        let label = t
            .iter()
            .next()
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .unwrap_or_default();
        assert_ne!(label.get(2..4), Some("--"), "{domain} -> {label}: reserved form");
    }
}

#[test]
fn a_domain_without_a_valid_target_is_skipped_not_fatal() {
    // A zone whose apex leaves no room for a target label: every domain
    // would fail; here one long-named domain does and the others stay.
    let origin = format!(
        "{}.{}.{}.{}.net",
        "z".repeat(63),
        "y".repeat(63),
        "x".repeat(63),
        "w".repeat(20)
    );
    let s = ZoneSettings::builder(origin).build().expect("settings");
    let nodes = vec![node("n1", 1, true)];
    let domains = vec![
        domain("a.example.com"),
        domain(&format!("{}.example.com", "b".repeat(60))),
    ];
    let zone = build(&domains, &nodes, &s, 1);
    let skipped: Vec<&str> = zone.skipped().iter().map(|s| s.domain.as_str()).collect();
    assert_eq!(skipped, [domains[1].domain.as_str()]);
    assert!(zone.skipped()[0].reason.contains("exceed 255"), "{:?}", zone.skipped());
    let a = target_name("a.example.com", s.origin()).expect("fits");
    assert!(matches!(zone.lookup(&a.into(), RecordType::A), Lookup::Found(_)));
}

#[test]
fn only_the_failed_nodes_domains_move() {
    let s = settings();
    let mut nodes: Vec<Node> = (1..=10).map(|i| node(&format!("n{i}"), i, true)).collect();
    let domains: Vec<DomainConf> = (0..500).map(|i| domain(&format!("d{i}.example.com"))).collect();
    let input = |nodes: &[Node]| build(&domains, nodes, &s, 1);
    let before = input(&nodes);
    nodes[3].active = false;
    let down = nodes[3].ipv4.expect("ip");
    let after = input(&nodes);
    let mut moved = 0;
    for d in &domains {
        let (b, a) = (addresses(&before, &s, &d.domain), addresses(&after, &s, &d.domain));
        assert!(!a.contains(&down), "the failed node is gone");
        if b.contains(&down) {
            moved += 1;
            let kept: Vec<_> = b.iter().filter(|ip| **ip != down).collect();
            assert!(
                kept.iter().all(|ip| a.contains(ip)),
                "{}: the healthy replica stays",
                d.domain
            );
        } else {
            let (mut b, mut a) = (b.clone(), a.clone());
            b.sort();
            a.sort();
            assert_eq!(a, b, "{}: untouched by the failure", d.domain);
        }
    }
    assert!(moved > 50 && moved < 200, "about 2/10 of the domains had it: {moved}");
}

#[test]
fn fallbacks_overrides_and_challenges() {
    let s = settings();
    // Nobody active: every enabled node is eligible rather than no answer.
    let mut nodes = vec![node("a", 1, false), node("b", 2, false), node("c", 3, false)];
    nodes[2].enabled = false;
    let mut one = domain("one.example.com");
    one.replicas = Some(1);
    let domains = [domain("www.example.com"), one];
    let challenges = BTreeMap::from([(
        "www.example.com".to_string(),
        vec!["token-1".to_string(), "token-2".to_string()],
    )]);
    let zone = Zone::build(
        ZoneInput {
            domains: &domains,
            nodes: &nodes,
            challenges: Some(&challenges),
        },
        &s,
        1,
    )
    .expect("zone");
    assert_eq!(zone.node_pool(), NodePool::AllEnabled);
    let mut www = addresses(&zone, &s, "www.example.com");
    www.sort();
    assert_eq!(
        www,
        [Ipv4Addr::new(198, 51, 100, 1), Ipv4Addr::new(198, 51, 100, 2)],
        "never the disabled node"
    );
    assert_eq!(
        addresses(&zone, &s, "one.example.com").len(),
        1,
        "the domain's replicas override"
    );
    let txt = challenge_name("www.example.com", s.origin()).expect("name");
    assert!(matches!(zone.lookup(&lower(&txt), RecordType::TXT), Lookup::Found(r) if r.len() == 2));
    // The target name exists (it has A records) and so does the empty parent chain.
    let target = target_name("www.example.com", s.origin()).expect("t");
    assert!(matches!(zone.lookup(&lower(&target), RecordType::TXT), Lookup::NoData));

    // No usable node at all: the names exist without addresses (NODATA).
    let zone = build(&domains, &[], &s, 1);
    assert_eq!(zone.node_pool(), NodePool::Empty);
    assert_eq!(zone.lookup(&lower(&target), RecordType::A), Lookup::NoData);
}

#[test]
fn bad_settings_are_refused() {
    assert!(ZoneSettings::builder("").build().is_err());
    assert!(
        ZoneSettings::builder("cdn.example.net")
            .replicas_per_site(0)
            .build()
            .is_err()
    );
    assert!(ZoneSettings::builder("bad..name").build().is_err());
}

#[test]
fn a_name_that_is_not_one_keeps_the_parser_s_reason() {
    let e = ZoneSettings::builder("cdn..example.net")
        .build()
        .expect_err("empty label");
    assert!(matches!(&e, Error::Name { what, .. } if what == "zone"), "{e}");
    assert!(std::error::Error::source(&e).is_some(), "the cause is kept");
}
