//! Validation reports every problem of a domain configuration at once.
//!
//! Run: `cargo run --example validate_domain [file.json]` (a built-in
//! example with mistakes is used without an argument).

use cirrus::core::DomainConf;

const SAMPLE: &str = r#"{
  "domain": "Shop.Example.COM",
  "origins": [
    {"scheme": "https", "host": "origin.example.net", "port": 443},
    {"host": "bad host", "port": 0, "backup": true}
  ],
  "cache": {"rules": [{"match": {"extension": ".css"}, "ttl": 600}]},
  "tls": {"mode": "none", "force_https": true},
  "replicas": 40
}"#;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let json = match std::env::args().nth(1) {
        Some(path) => std::fs::read_to_string(path)?,
        None => SAMPLE.to_string(),
    };
    let conf: DomainConf = match serde_json::from_str(&json) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("not a domain configuration: {e}");
            std::process::exit(2);
        }
    };
    match conf.validated() {
        Ok(conf) => println!("valid: {}", serde_json::to_string_pretty(&conf)?),
        Err(errors) => {
            for e in &errors.errors {
                println!("{}: {}", e.field, e.reason);
            }
            std::process::exit(1);
        }
    }
    Ok(())
}
