//! `cirrus config reference`: every setting as Markdown tables, generated
//! from the roles' flags (docs/configuration.md holds the output).

use super::config::{NOT_SETTINGS, ROLES, SHARED, UP_DEFAULTS};
use clap::{Arg, ArgAction, Command};

/// Every setting of every role as Markdown tables: the file key, the flag,
/// the environment variable, the default and the flag's help.
pub(crate) fn reference(root: &Command) -> String {
    let default = |arg: &Arg, up: Option<&str>| {
        let mut cell = match arg.get_default_values().first() {
            Some(d) => format!("`{}`", d.to_string_lossy()),
            None if matches!(arg.get_action(), ArgAction::SetTrue) => "`false`".into(),
            None if arg.is_required_set() => "required".into(),
            None => "unset".into(),
        };
        if let Some(v) = up {
            cell += &format!(" (`cirrus up`: `{v}`)");
        }
        cell
    };
    let row = |key: &str, arg: &Arg, default: String| {
        let flag = arg.get_long().map(|l| format!("`--{l}`")).unwrap_or_default();
        let env = arg
            .get_env()
            .map(|e| format!("`{}`", e.to_string_lossy()))
            .unwrap_or_default();
        let help = arg
            .get_help()
            .map(|h| h.to_string().replace('\n', " "))
            .unwrap_or_default();
        let key = if key.starts_with('(') {
            key.to_string()
        } else {
            format!("`{key}`")
        };
        format!("| {key} | {flag} | {env} | {default} | {help} |\n")
    };
    let header = "| key | flag | environment | default | meaning |\n|---|---|---|---|---|\n";
    let mut out = String::from("### Top level (every role)\n\n") + header;
    for a in root.get_arguments().filter(|a| {
        ["log", "log_format", "threads", "otlp_endpoint", "trace_sample_ratio"].contains(&a.get_id().as_str())
    }) {
        out += &row(a.get_id().as_str(), a, default(a, None));
    }
    if let Some(up) = root.find_subcommand("up") {
        for a in up.get_arguments().filter(|a| SHARED.contains(&a.get_id().as_str())) {
            let cell = format!("{} (`cirrus up`; a role's own default otherwise)", default(a, None));
            out += &row(a.get_id().as_str(), a, cell);
        }
    }
    if let Some(a) = root.get_arguments().find(|a| a.get_id() == "config") {
        out += &row("(command line only)", a, default(a, None));
    }
    for role in ["up"].iter().chain(ROLES) {
        let Some(cmd) = root.find_subcommand(role) else {
            continue;
        };
        out += &format!("\n### `cirrus {role}`\n\n");
        if *role == "up" {
            out += "`up` runs the four roles below, each with its settings (tables `[api]`, `[edge]`, `[dns]`, `[worker]`); its own flags:\n\n";
        }
        out += header;
        for a in cmd.get_arguments() {
            let id = a.get_id().as_str();
            if ["help", "version"].contains(&id) || (*role == "up" && SHARED.contains(&id)) {
                continue;
            }
            let key = if NOT_SETTINGS.contains(&id) {
                "(command line only)".to_string()
            } else if SHARED.contains(&id) {
                id.to_string()
            } else {
                format!("{role}.{id}")
            };
            let up = UP_DEFAULTS
                .iter()
                .find(|(r, k, _)| r == role && *k == id)
                .map(|(_, _, v)| *v);
            out += &row(&key, a, default(a, up));
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    /// docs/configuration.md holds the generated reference between its
    /// markers; `CIRRUS_UPDATE_GOLDEN=1` rewrites it.
    #[test]
    fn the_configuration_reference_in_the_docs_is_the_code_s() {
        use clap::CommandFactory;
        let generated = super::reference(&crate::server::Cli::command());
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/configuration.md");
        let doc = std::fs::read_to_string(&path).unwrap();
        let (begin, end) = ("<!-- reference: begin -->\n", "<!-- reference: end -->");
        let (head, rest) = doc.split_once(begin).expect("the begin marker");
        let (current, tail) = rest.split_once(end).expect("the end marker");
        if std::env::var_os("CIRRUS_UPDATE_GOLDEN").is_some() {
            std::fs::write(&path, format!("{head}{begin}{generated}{end}{tail}")).unwrap();
        } else {
            assert!(
                current == generated,
                "docs/configuration.md is stale: run CIRRUS_UPDATE_GOLDEN=1 cargo test -p cirrus-cli --lib"
            );
        }
    }
}
