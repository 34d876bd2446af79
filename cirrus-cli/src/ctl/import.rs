//! `cirrusctl domain import FILE`: many domains through
//! `POST /api/v1/domains:batch`. The whole file is read and decoded first,
//! so a malformed file sends nothing; then each batch is one request.

use super::error::CtlError;
use super::output::Printer;
use cirrus_client::Client;
use cirrus_core::DomainConf;
use cirrus_core::model::{BatchItem, BatchResult};
use std::path::Path;

/// Reads the domains of `file` and sends them `batch` at a time. Exits 5
/// when the API refused any of them (all are listed).
pub(super) async fn run(api: &Client, out: &Printer, file: &Path, batch: usize) -> Result<i32, CtlError> {
    let domains = read_domains(file, &super::read_text(file)?)?;
    let mut all = BatchResult {
        revision: 0,
        items: Vec::with_capacity(domains.len()),
    };
    let mut first = 0;
    for chunk in chunks(&domains, batch.max(1), MAX_REQUEST_BYTES) {
        let result = api.batch_domains(chunk).await?;
        all.revision = result.revision;
        // Number items across the whole file, not per request.
        all.items.extend(result.items.into_iter().map(|item| BatchItem {
            index: first + item.index,
            ..item
        }));
        first += chunk.len();
    }
    out.batch(&all);
    Ok(if all.refused().next().is_some() {
        super::EXIT_INVALID
    } else {
        super::EXIT_OK
    })
}

/// A request's body is kept under half the API's default limit of 1 MiB,
/// so domains with many rules travel in smaller batches.
const MAX_REQUEST_BYTES: usize = 512 * 1024;

/// `domains` in runs of at most `count` domains and about `bytes` of JSON
/// (a domain larger than that alone is one run).
fn chunks(domains: &[DomainConf], count: usize, bytes: usize) -> Vec<&[DomainConf]> {
    let mut runs = Vec::new();
    let (mut start, mut size) = (0, 0);
    for (i, d) in domains.iter().enumerate() {
        let len = serde_json::to_vec(d).map_or(0, |j| j.len() + 1);
        if i > start && (i - start == count || size + len > bytes) {
            runs.push(&domains[start..i]);
            (start, size) = (i, 0);
        }
        size += len;
    }
    if start < domains.len() {
        runs.push(&domains[start..]);
    }
    runs
}

/// The domains of a file: one JSON array of domains, or JSON values one
/// after another (one per line). A value that is not a domain names its
/// position and the reason.
fn read_domains(file: &Path, text: &str) -> Result<Vec<DomainConf>, CtlError> {
    let bad = |what: String| CtlError::Input(format!("{}: {what}", file.display()));
    let mut values = Vec::new();
    for value in serde_json::Deserializer::from_str(text).into_iter::<serde_json::Value>() {
        let value = value.map_err(|e| bad(format!("not JSON: {e}")))?;
        match value {
            serde_json::Value::Array(items) if values.is_empty() => values.extend(items),
            other => values.push(other),
        }
    }
    if values.is_empty() {
        return Err(bad("holds no domain".into()));
    }
    values
        .into_iter()
        .enumerate()
        .map(|(i, value)| {
            let name = value.get("domain").and_then(|d| d.as_str()).unwrap_or("?").to_string();
            serde_json::from_value(value).map_err(|e| bad(format!("domain {} ({name}): {e}", i + 1)))
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn reads_an_array_or_one_domain_per_line() {
        let file = Path::new("domains.json");
        let array = r#"[{"domain": "a.example", "origins": [{"host": "192.0.2.1"}]},
                        {"domain": "b.example", "origins": [{"host": "192.0.2.2"}]}]"#;
        let lines = "{\"domain\": \"a.example\", \"origins\": [{\"scheme\": \"https\", \"host\": \"192.0.2.1\"}]}\n\
                     {\"domain\": \"b.example\", \"origins\": [{\"scheme\": \"https\", \"host\": \"192.0.2.2\"}]}\n";
        for text in [array, lines] {
            let names: Vec<String> = read_domains(file, text)
                .unwrap()
                .into_iter()
                .map(|d| d.domain)
                .collect();
            assert_eq!(names, ["a.example", "b.example"]);
        }
    }

    #[test]
    fn batches_hold_at_most_so_many_domains_and_bytes() {
        let domains: Vec<DomainConf> = (0..10)
            .map(|i| DomainConf::new(format!("d{i}.example"), "http://192.0.2.1".parse().unwrap()))
            .collect();
        let one = serde_json::to_vec(&domains[0]).unwrap().len() + 1;
        let sizes = |runs: Vec<&[DomainConf]>| runs.iter().map(|r| r.len()).collect::<Vec<_>>();
        assert_eq!(sizes(chunks(&domains, 4, usize::MAX)), [4, 4, 2]);
        assert_eq!(sizes(chunks(&domains, 100, one * 3)), [3, 3, 3, 1]);
        assert_eq!(sizes(chunks(&domains, 100, 1)), [1; 10], "one too large travels alone");
        assert!(chunks(&[], 4, 100).is_empty());
    }

    #[test]
    fn a_bad_file_names_the_domain_and_sends_nothing() {
        let file = Path::new("domains.json");
        let e = read_domains(
            file,
            r#"[{"domain": "a.example", "origins": [{"host": "192.0.2.1"}], "ttl": 5}]"#,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("domain 1 (a.example)") && e.contains("ttl"), "{e}");
        let e = read_domains(file, "{\"domain\": ").unwrap_err().to_string();
        assert!(e.contains("not JSON"), "{e}");
        let e = read_domains(file, "  \n").unwrap_err().to_string();
        assert!(e.contains("holds no domain"), "{e}");
    }
}
