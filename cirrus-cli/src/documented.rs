//! Every `cirrus` and `cirrusctl` command line in the code blocks of
//! `docs/*.md` and the README goes through the real argument parser, so a
//! renamed or removed flag fails the tests instead of the reader.

#![allow(clippy::unwrap_used)]
use clap::CommandFactory;
use std::path::Path;

/// The command lines of the code blocks of `text` (`cirrus …` or
/// `cirrusctl …`, after any `$ ` prompt and `VAR=value` prefix), without
/// their trailing `# comment` and `> redirection`.
fn command_lines(text: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut in_block = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_block = !in_block;
            continue;
        }
        if !in_block {
            continue;
        }
        let mut words: Vec<String> = split(line.trim().trim_start_matches("$ "));
        while words.first().is_some_and(|w| w.contains('=') && !w.starts_with('-')) {
            words.remove(0);
        }
        if !matches!(words.first().map(String::as_str), Some("cirrus" | "cirrusctl")) {
            continue;
        }
        if let Some(end) = words.iter().position(|w| w == "#" || w == ">" || w == "|") {
            words.truncate(end);
        }
        lines.push(words.join("\u{1f}"));
    }
    lines
}

/// Shell-like words: whitespace-separated, with '…' and "…" quoting.
fn split(line: &str) -> Vec<String> {
    let (mut words, mut word, mut quote, mut started) = (Vec::new(), String::new(), None, false);
    for c in line.chars() {
        match (quote, c) {
            (None, '\'' | '"') => (quote, started) = (Some(c), true),
            (Some(q), c) if c == q => quote = None,
            (None, c) if c.is_whitespace() => {
                if started {
                    words.push(std::mem::take(&mut word));
                    started = false;
                }
            }
            (_, c) => {
                word.push(c);
                started = true;
            }
        }
    }
    if started {
        words.push(word);
    }
    words
}

#[test]
fn every_documented_command_line_parses() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files: Vec<_> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    files.push(root.join("README.md"));
    files.sort();
    let mut checked = 0;
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for line in command_lines(&text) {
            let words: Vec<&str> = line.split('\u{1f}').collect();
            let parsed = match words[0] {
                "cirrus" => crate::server::Cli::command().try_get_matches_from(&words),
                _ => crate::ctl::command().try_get_matches_from(&words),
            };
            if let Err(e) = parsed {
                panic!("{}: `{}` does not parse:\n{e}", file.display(), words.join(" "));
            }
            checked += 1;
        }
    }
    assert!(checked >= 20, "only {checked} command lines found");
}

#[test]
fn a_renamed_flag_is_caught() {
    let lines = command_lines("```sh\nCIRRUS_TOKEN=x cirrusctl purge example.com --everything   # old flag\n```\n");
    let words: Vec<&str> = lines[0].split('\u{1f}').collect();
    assert_eq!(words, ["cirrusctl", "purge", "example.com", "--everything"]);
    assert!(crate::ctl::command().try_get_matches_from(&words).is_err());
    assert_eq!(
        split(r#"cirrus up --set 'api.admin_user=a b' "x""#),
        ["cirrus", "up", "--set", "api.admin_user=a b", "x"]
    );
}
