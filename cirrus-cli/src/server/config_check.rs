//! `cirrus config check ROLE`: the effective settings of a role, each with
//! its source, and every error in them.

use super::config::{self, ConfigFile, ROLES};
use super::{Cli, up_command, usage_errors};
use clap::CommandFactory;

/// `cirrus config check ROLE`.
pub(super) fn check(root: &clap::Command, file: &ConfigFile, role: &str, mut errors: Vec<String>) -> i32 {
    let mut sections = Vec::new();
    if role == "up" {
        if let Some(cmd) = root.find_subcommand("up") {
            sections.push(("up", config::check(cmd, "up", file, true, &|_| false).0));
        }
        for r in ROLES {
            match up_command(file, r) {
                Ok(cmd) => {
                    let (settings, e) = config::check(&cmd, r, file, true, &|_| false);
                    sections.push((r, settings));
                    errors.extend(e);
                }
                Err(e) => errors.extend(e),
            }
        }
    } else if let Some(cmd) = root.find_subcommand(role) {
        let (settings, e) = config::check(cmd, role, file, false, &|_| false);
        sections.push((role, settings));
        errors.extend(e);
    }
    // In the order of `--help` (the file's values moved their arguments).
    let fresh = Cli::command();
    for (role, settings) in &mut sections {
        if let Some(cmd) = fresh.find_subcommand(role) {
            let order: Vec<&str> = cmd.get_arguments().map(|a| a.get_id().as_str()).collect();
            let rank = |key: &str| {
                let id = key.rsplit('.').next().unwrap_or(key);
                order.iter().position(|o| *o == id).unwrap_or(usize::MAX)
            };
            settings.sort_by_key(|s| rank(&s.key));
        }
    }
    let title = match file.path() {
        Some(p) => format!("cirrus {role} with {}", p.display()),
        None => format!("cirrus {role}, no configuration file"),
    };
    let rendered = config::render(&title, &sections);
    print!("{rendered}");
    if errors.is_empty() {
        println!("\n# no errors");
        0
    } else {
        usage_errors(&errors)
    }
}
