//! Where each setting of a role comes from: a flag, else its environment
//! variable, else the TOML file (`--config`, `CIRRUS_CONFIG`), else the
//! default. The file's values become the flags' defaults, so clap applies
//! that order itself; this module reads the file, refuses unknown keys,
//! and checks every value at once (`cirrus config check`).
//!
//! The file has top-level keys shared by the roles (`store`, `zone`, `log`,
//! `log_format`, `threads`, `otlp_endpoint`, `trace_sample_ratio`, `webhook_allow_private`) and one table per role (`[api]`, `[edge]`,
//! `[dns]`, `[worker]`) whose keys are the role's flags with `_` for `-`.

use clap::{Arg, ArgAction, Command};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Top-level keys given to every role (and root) that has the argument.
pub(super) const SHARED: &[&str] = &[
    "store",
    "zone",
    "log",
    "log_format",
    "threads",
    "otlp_endpoint",
    "trace_sample_ratio",
    "webhook_allow_private",
];
/// The roles, each a table of the file.
pub(crate) const ROLES: &[&str] = &["api", "edge", "dns", "worker"];
/// Arguments that are actions or belong to the command line only.
pub(super) const NOT_SETTINGS: &[&str] = &["help", "version", "config", "rotate_master_token", "set"];

/// Defaults of `cirrus up` that differ from the role's own: everything on
/// loopback and unprivileged ports, an HTTPS listener, the edge registered
/// as the node the DNS publishes.
pub(super) const UP_DEFAULTS: &[(&str, &str, &str)] =
    &[("edge", "tls_listen", "127.0.0.1:8443"), ("edge", "node_id", "local")];

/// The parsed configuration file (empty when there is none).
#[derive(Debug, Default)]
pub(crate) struct ConfigFile {
    path: Option<PathBuf>,
    table: toml::Table,
}

/// The `--config` of the command line (`--config F` or `--config=F`), else
/// `CIRRUS_CONFIG`.
pub(crate) fn config_path(args: &[OsString]) -> Option<PathBuf> {
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        let a = a.to_string_lossy();
        if a == "--" {
            break;
        }
        if a == "--config" {
            return it.next().map(PathBuf::from);
        }
        if let Some(p) = a.strip_prefix("--config=") {
            return Some(PathBuf::from(p));
        }
    }
    std::env::var_os("CIRRUS_CONFIG").map(PathBuf::from)
}

impl ConfigFile {
    /// Reads and parses `path`.
    pub(crate) fn read(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let table = text
            .parse::<toml::Table>()
            .map_err(|e| format!("{}: {}", path.display(), e.to_string().trim_end()))?;
        Ok(Self {
            path: Some(path.to_path_buf()),
            table,
        })
    }

    /// Where the file was read from.
    pub(crate) fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The file's value for `id` of `role` (`None`: the root command), as
    /// a flag value.
    fn value(&self, role: Option<&str>, id: &str) -> Option<Result<String, String>> {
        let v = if SHARED.contains(&id) {
            self.table.get(id)
        } else {
            self.table.get(role?)?.as_table()?.get(id)
        }?;
        let key = match role {
            Some(r) if !SHARED.contains(&id) => format!("{r}.{id}"),
            _ => id.to_string(),
        };
        Some(flag_value(v).ok_or_else(|| format!("{key}: a string, number, boolean or list of them is expected")))
    }

    /// Every key of the file no role knows, as `key: why`.
    pub(crate) fn unknown_keys(&self, root: &Command) -> Vec<String> {
        let known =
            |cmd: &Command, id: &str| cmd.get_arguments().any(|a| a.get_id() == id) && !NOT_SETTINGS.contains(&id);
        let mut errors = Vec::new();
        for (key, value) in &self.table {
            if SHARED.contains(&key.as_str()) {
                continue;
            }
            let Some(cmd) = ROLES
                .contains(&key.as_str())
                .then(|| root.find_subcommand(key))
                .flatten()
            else {
                errors.push(format!(
                    "{key}: unknown key (top level: store, zone, log, log_format, threads, otlp_endpoint, trace_sample_ratio, [api], [edge], [dns], [worker])"
                ));
                continue;
            };
            let Some(table) = value.as_table() else {
                errors.push(format!("{key}: must be a table ([{key}])"));
                continue;
            };
            for id in table.keys() {
                if SHARED.contains(&id.as_str()) {
                    errors.push(format!("{key}.{id}: {id} is a top-level key, shared by every role"));
                } else if !known(cmd, id) {
                    errors.push(format!("{key}.{id}: unknown key (see `cirrus {key} --help`)"));
                }
            }
        }
        errors
    }

    /// `cmd` (the root command when `role` is `None`, else the role's)
    /// with the file's values, and `cirrus up`'s when `up`, as defaults.
    pub(crate) fn apply(&self, mut cmd: Command, role: Option<&str>, up: bool) -> Result<Command, Vec<String>> {
        let mut errors = Vec::new();
        let ids: Vec<String> = cmd.get_arguments().map(|a| a.get_id().to_string()).collect();
        for id in ids.iter().filter(|id| !NOT_SETTINGS.contains(&id.as_str())) {
            let file = self.value(role, id);
            let up_default = UP_DEFAULTS
                .iter()
                .find(|(r, k, _)| up && Some(*r) == role && k == id)
                .map(|(_, _, v)| Ok(v.to_string()));
            match file.or(up_default) {
                Some(Ok(v)) => cmd = cmd.mut_arg(id, |a| a.default_value(v).required(false)),
                Some(Err(e)) => errors.push(e),
                None => {}
            }
        }
        if errors.is_empty() { Ok(cmd) } else { Err(errors) }
    }
}

/// A TOML value as the flag text clap parses; lists joined by commas.
fn flag_value(v: &toml::Value) -> Option<String> {
    match v {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Float(f) => Some(f.to_string()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        toml::Value::Array(items) => items
            .iter()
            .map(|i| match i {
                toml::Value::Array(_) | toml::Value::Table(_) => None,
                other => flag_value(other),
            })
            .collect::<Option<Vec<_>>>()
            .map(|v| v.join(",")),
        toml::Value::Datetime(_) | toml::Value::Table(_) => None,
    }
}

/// One setting's effective value and where it came from.
#[derive(Debug)]
pub(crate) struct Setting {
    pub(crate) key: String,
    pub(crate) value: Option<String>,
    pub(crate) source: String,
    pub(crate) secret: bool,
}

/// Checks every setting of `cmd` (a role command with the file applied)
/// as given by the environment, the file or the defaults, except those
/// `given` on the command line (clap checked those). Returns the settings
/// and every problem.
pub(crate) fn check(
    cmd: &Command,
    role: &str,
    file: &ConfigFile,
    up: bool,
    given: &dyn Fn(&str) -> bool,
) -> (Vec<Setting>, Vec<String>) {
    let mut settings = Vec::new();
    let mut errors = Vec::new();
    for arg in cmd.get_arguments() {
        let id = arg.get_id().as_str();
        // Under `up`, the shared settings are `up`'s own.
        if NOT_SETTINGS.contains(&id) || (up && role != "up" && SHARED.contains(&id)) || given(id) {
            continue;
        }
        let key = if SHARED.contains(&id) {
            id.to_string()
        } else {
            format!("{role}.{id}")
        };
        let env = arg
            .get_env()
            .and_then(|name| std::env::var_os(name).map(|v| (name.to_string_lossy(), v)));
        let from_file = file.value(Some(role), id).is_some();
        let is_up_default = up && UP_DEFAULTS.iter().any(|(r, k, _)| *r == role && *k == id);
        let (value, source) = match env {
            Some((name, v)) => (Some(v.to_string_lossy().into_owned()), format!("env {name}")),
            None => {
                let flag = matches!(arg.get_action(), ArgAction::SetTrue);
                let default = arg
                    .get_default_values()
                    .first()
                    .map(|v| v.to_string_lossy().into_owned())
                    .or_else(|| flag.then(|| "false".to_string()));
                let source = if from_file {
                    "file"
                } else if is_up_default {
                    "default of cirrus up"
                } else {
                    "default"
                };
                (default, source.to_string())
            }
        };
        match &value {
            Some(v) => {
                if let Err(e) = parse(arg, v) {
                    errors.push(format!("{key} ({source}): {e}"));
                }
            }
            None if arg.is_required_set() => {
                let flag = arg.get_long().map(|l| format!("--{l}, ")).unwrap_or_default();
                let env = arg
                    .get_env()
                    .map(|e| format!("{}, ", e.to_string_lossy()))
                    .unwrap_or_default();
                errors.push(format!("{key} is required ({flag}{env}or `{id}` in the file)"));
            }
            None => {}
        }
        settings.push(Setting {
            key,
            value,
            source,
            secret: arg.is_hide_env_values_set(),
        });
    }
    (settings, errors)
}

/// Runs the argument's own parser over `raw`, in a command holding only
/// that argument.
fn parse(arg: &Arg, raw: &str) -> Result<(), String> {
    if matches!(arg.get_action(), ArgAction::SetTrue | ArgAction::SetFalse) {
        return match raw {
            "true" | "false" | "1" | "0" | "yes" | "no" | "on" | "off" => Ok(()),
            _ => Err("expected true or false".into()),
        };
    }
    let Some(long) = arg.get_long() else { return Ok(()) };
    let alone = arg.clone().env(None).default_value(None).required(false);
    Command::new("check")
        .no_binary_name(true)
        .arg(alone)
        .try_get_matches_from([format!("--{long}={raw}")])
        .map(drop)
        .map_err(|e| {
            let text = e.to_string();
            let first = text.lines().next().unwrap_or_default();
            first.trim_start_matches("error: ").to_string()
        })
}

/// The settings as a TOML file that would give the same configuration,
/// each value followed by its source; secrets are not shown.
pub(crate) fn render(title: &str, sections: &[(&str, Vec<Setting>)]) -> String {
    let mut out = format!("# {title}: effective configuration (flag > environment > file > default)\n");
    let mut shared_done = Vec::new();
    let line = |s: &Setting, name: &str| -> String {
        match &s.value {
            None => format!("# {name} =  # unset\n"),
            Some(_) if s.secret => format!("# {name} = <hidden>  # {}\n", s.source),
            Some(v) => format!("{name} = {}  # {}\n", toml_value(v), s.source),
        }
    };
    for (_, settings) in sections {
        for s in settings.iter().filter(|s| !s.key.contains('.')) {
            if !shared_done.contains(&s.key) {
                out += &line(s, &s.key);
                shared_done.push(s.key.clone());
            }
        }
    }
    for (role, settings) in sections.iter().filter(|(r, _)| *r != "up") {
        out += &format!("\n[{role}]\n");
        for s in settings.iter().filter(|s| s.key.contains('.')) {
            let name = s.key.split_once('.').map_or(s.key.as_str(), |(_, k)| k);
            out += &line(s, name);
        }
    }
    out
}

fn toml_value(v: &str) -> String {
    if v.parse::<i64>().is_ok() || v == "true" || v == "false" {
        v.to_string()
    } else {
        toml::Value::String(v.to_string()).to_string()
    }
}
