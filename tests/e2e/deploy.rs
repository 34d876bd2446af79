//! The deployment files of `deploy/`, checked against the real binary and
//! real tools: each systemd unit passes `systemd-analyze verify` and its
//! offline security review, and its command line parses; the compose
//! file's commands parse, its published ports and Prometheus targets are
//! the addresses those commands listen on.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use yaml_rust2::{Yaml, YamlLoader};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

const CIRRUS: &str = env!("CARGO_BIN_EXE_cirrus");

/// Fails unless `cirrus args… --help` parses: every flag known, every
/// value valid (clap stops at the first bad one, before `--help`).
fn parses(args: &[String]) {
    let out = Command::new(CIRRUS).args(args).arg("--help").output().unwrap();
    assert!(
        out.status.success(),
        "cirrus {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The value of `--flag` in `args`.
fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
}

fn port_of(addr: &str) -> u16 {
    addr.rsplit(':').next().unwrap().parse().unwrap()
}

/// The ports a role's command line listens on.
fn listens(args: &[String]) -> BTreeSet<u16> {
    ["--listen", "--tls-listen", "--metrics-listen"]
        .iter()
        .filter_map(|f| flag(args, f))
        .map(port_of)
        .collect()
}

fn systemd_analyze(args: &[&str], unit: &Path) -> (bool, String) {
    let out = Command::new("systemd-analyze")
        .args(args)
        .arg(unit)
        .output()
        .expect("systemd-analyze runs (scripts/test installs Debian's systemd)");
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.success(), text)
}

#[test]
fn each_systemd_unit_verifies_is_hardened_and_runs_a_real_command_line() {
    let dir = repo().join("deploy/systemd");
    let tmp = tempfile::tempdir().unwrap();
    let mut roles = BTreeSet::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        let text = std::fs::read_to_string(&path).unwrap();
        // verify checks that the command exists: point it at the build.
        let local = tmp.path().join(&name);
        std::fs::write(&local, text.replace("/usr/local/bin/cirrus", CIRRUS)).unwrap();
        let (ok, out) = systemd_analyze(&["verify"], &local);
        assert!(ok && out.trim().is_empty(), "{name}: {out}");
        let (ok, out) = systemd_analyze(&["security", "--offline=true", "--threshold=25"], &local);
        assert!(ok, "{name}: exposure above 2.5: {out}");

        let exec = text
            .lines()
            .find_map(|l| l.strip_prefix("ExecStart=/usr/local/bin/cirrus "))
            .unwrap_or_else(|| panic!("{name}: no ExecStart of /usr/local/bin/cirrus"));
        let args: Vec<String> = exec.split_whitespace().map(str::to_string).collect();
        parses(&args);
        let role = args
            .iter()
            .find(|a| ["api", "edge", "dns", "worker"].contains(&a.as_str()))
            .unwrap_or_else(|| panic!("{name}: no role in {args:?}"));
        assert_eq!(name, format!("cirrus-{role}.service"));
        roles.insert(role.clone());
        for line in ["DynamicUser=yes", "ProtectSystem=strict", "NoNewPrivileges=yes"] {
            assert!(text.lines().any(|l| l == line), "{name}: {line}");
        }
        // A capability only where a port needs it.
        let low_port = listens(&args).iter().any(|p| *p < 1024);
        let caps = if low_port { "CAP_NET_BIND_SERVICE" } else { "" };
        for key in ["CapabilityBoundingSet", "AmbientCapabilities"] {
            assert!(
                text.lines().any(|l| l == format!("{key}={caps}")),
                "{name}: {key}={caps}"
            );
        }
    }
    assert_eq!(roles, ["api", "dns", "edge", "worker"].map(String::from).into());
}

/// A service's mapping, with its `<<` merge key resolved.
fn service_map(service: &Yaml) -> BTreeMap<String, Yaml> {
    let mut map = BTreeMap::new();
    let hash = service.as_hash().unwrap();
    if let Some(base) = hash.get(&Yaml::String("<<".into())) {
        for (k, v) in base.as_hash().unwrap() {
            map.insert(k.as_str().unwrap().to_string(), v.clone());
        }
    }
    for (k, v) in hash {
        map.insert(k.as_str().unwrap().to_string(), v.clone());
    }
    map
}

fn strings(value: &Yaml) -> Vec<String> {
    value
        .as_vec()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn the_compose_layout_runs_real_command_lines_on_the_ports_it_publishes_and_scrapes() {
    let dir = repo().join("deploy/compose");
    let doc = &YamlLoader::load_from_str(&std::fs::read_to_string(dir.join("compose.yaml")).unwrap()).unwrap()[0];
    let services: BTreeMap<String, BTreeMap<String, Yaml>> = doc["services"]
        .as_hash()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.as_str().unwrap().to_string(), service_map(v)))
        .collect();
    let names: Vec<&str> = services.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "api",
            "dns",
            "edge-1",
            "edge-2",
            "grafana",
            "prometheus",
            "redis",
            "worker"
        ]
    );
    let mut metrics_ports = BTreeMap::new();
    for (name, service) in &services {
        if service.get("image").and_then(Yaml::as_str) != Some("cirrus:latest") {
            continue;
        }
        let args = strings(&service["command"]);
        parses(&args);
        let role = name.split('-').next().unwrap();
        assert_eq!(args[0], role, "{name} runs the {role} role");
        assert_eq!(flag(&args, "--store"), Some("redis://redis:6379"), "{name}");
        let listening = listens(&args);
        // Every published port is one the command listens on.
        for port in service.get("ports").map(strings).unwrap_or_default() {
            let inside = port.split(':').next_back().unwrap().split('/').next().unwrap();
            let inside: u16 = inside.parse().unwrap();
            assert!(
                listening.contains(&inside),
                "{name}: publishes {port}, listens on {listening:?}"
            );
        }
        let metrics = flag(&args, "--metrics-listen").or_else(|| flag(&args, "--listen").filter(|_| role == "api"));
        metrics_ports.insert(name.clone(), port_of(metrics.unwrap()));
        if let Some(ip) = flag(&args, "--node-ipv4") {
            let addr = &service["networks"]["default"]["ipv4_address"];
            assert_eq!(addr.as_str(), Some(ip), "{name}: registers the address it has");
        }
    }
    // The health checker probes the edges' admin port.
    let dns = strings(&services["dns"]["command"]);
    assert_eq!(
        flag(&dns, "--health-port").map(str::parse::<u16>),
        Some(Ok(metrics_ports["edge-1"]))
    );

    // Prometheus in compose scrapes each role where it serves /metrics.
    let mut scraped = BTreeSet::new();
    for entry in std::fs::read_dir(dir.join("targets")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for group in YamlLoader::load_from_str(&text).unwrap()[0].as_vec().unwrap() {
            for target in strings(&group["targets"]) {
                let (host, port) = target.split_once(':').unwrap();
                assert_eq!(metrics_ports.get(host), Some(&port.parse().unwrap()), "{target}");
                scraped.insert(host.to_string());
            }
        }
    }
    let roles: BTreeSet<String> = metrics_ports.keys().cloned().collect();
    assert_eq!(scraped, roles, "every role is scraped");
    let prometheus = strings(&services["prometheus"]["volumes"]);
    assert!(
        prometheus.iter().any(|v| v.starts_with("../prometheus/rules:")),
        "{prometheus:?}"
    );
    for volume in prometheus.iter().chain(strings(&services["grafana"]["volumes"]).iter()) {
        let source = volume.split(':').next().unwrap();
        assert!(dir.join(source).exists(), "{volume}: {source} is shipped");
    }
}
