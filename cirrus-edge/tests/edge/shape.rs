//! The crate's shape, checked on its sources: no module imports another
//! that imports it back (directly or around a circle), and no file over
//! 400 lines. A module's imports are its `use` items and the `crate::`,
//! `super::` and `self::` paths in its code (tests left out); a path into a
//! module that re-exports an item counts against the file that defines
//! it. A module may name its ancestors' items: a parent contains its
//! children, so only the parent's imports of them are edges.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const MAX_LINES: usize = 400;

/// One source file's code outside its tests.
struct Module {
    code: String,
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `src/a/b.rs` and `src/a/b/mod.rs` are `a::b`; `src/lib.rs` is the root.
fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let mut parts: Vec<String> = file
        .strip_prefix(src)
        .unwrap()
        .with_extension("")
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

/// The code before the file's `#[cfg(test)] mod tests`, comments dropped.
fn code_of(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut end = lines.len();
    for (i, line) in lines.iter().enumerate() {
        if line.trim() == "#[cfg(test)]"
            && lines[i + 1..]
                .iter()
                .find(|l| !l.trim_start().starts_with("#["))
                .is_some_and(|l| l.starts_with("mod tests"))
        {
            end = i;
            break;
        }
    }
    lines[..end]
        .iter()
        .filter(|l| !l.trim_start().starts_with("//"))
        .copied()
        .collect::<Vec<_>>()
        .join("\n")
}

/// Expands `a::{b, c::{d, e as f}}` into `a::b`, `a::c::d`, `a::c::e`.
fn expand(tree: &str, out: &mut Vec<String>) {
    let Some(open) = tree.find('{') else {
        out.push(tree.split(" as ").next().unwrap().trim().to_owned());
        return;
    };
    let prefix = &tree[..open];
    let inner = &tree[open + 1..tree.rfind('}').unwrap()];
    let (mut depth, mut start) = (0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                expand(&format!("{prefix}{}", inner[start..i].trim()), out);
                start = i + 1;
            }
            _ => {}
        }
    }
    if !inner[start..].trim().is_empty() {
        expand(&format!("{prefix}{}", inner[start..].trim()), out);
    }
}

/// Every path the code imports or names, as written.
fn paths_in(code: &str) -> Vec<String> {
    let mut paths = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("use ") {
        let before = rest[..at].chars().last();
        rest = &rest[at + 4..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let Some(end) = rest.find(';') else { break };
        let tree: String = rest[..end].split_whitespace().collect::<Vec<_>>().join(" ");
        expand(&tree, &mut paths);
    }
    for root in ["crate::", "super::", "self::"] {
        let mut rest = code;
        while let Some(at) = rest.find(root) {
            let before = rest[..at].chars().last();
            rest = &rest[at..];
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(rest.len());
            if !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                paths.push(rest[..end].trim_end_matches(':').to_owned());
            }
            rest = &rest[end..];
        }
    }
    paths
}

struct Crate {
    modules: BTreeMap<Vec<String>, Module>,
}

impl Crate {
    fn read(src: &Path) -> Self {
        let mut files = Vec::new();
        rust_files(src, &mut files);
        let modules = files
            .into_iter()
            .map(|file| {
                let code = code_of(&std::fs::read_to_string(&file).unwrap());
                (module_path(src, &file), Module { code })
            })
            .collect();
        Self { modules }
    }

    /// The absolute form of `path` written in module `at`, when it names
    /// something of this crate.
    fn absolute(&self, at: &[String], path: &str) -> Option<Vec<String>> {
        let mut segs = path.split("::").filter(|s| !s.is_empty()).map(str::to_owned);
        let first = segs.next()?;
        let mut abs: Vec<String> = match first.as_str() {
            "crate" => Vec::new(),
            "self" => at.to_vec(),
            "super" => at[..at.len().checked_sub(1)?].to_vec(),
            _ => {
                let mut child = at.to_vec();
                child.push(first.clone());
                if !self.modules.contains_key(&child) {
                    return None;
                }
                child
            }
        };
        for seg in segs {
            if seg == "super" {
                abs.pop()?;
            } else if seg != "self" {
                abs.push(seg);
            }
        }
        Some(abs)
    }

    /// The module whose file defines what `abs` names, following
    /// re-exports (bounded, in case two modules re-export each other).
    fn defining(&self, abs: &[String], depth: usize) -> Vec<String> {
        let split = (0..=abs.len())
            .rev()
            .find(|n| self.modules.contains_key(&abs[..*n]))
            .unwrap();
        let module = abs[..split].to_vec();
        let Some(item) = abs.get(split) else { return module };
        if depth == 0 {
            return module;
        }
        for path in paths_in(&self.modules[&module].code) {
            let last = path.rsplit("::").next().unwrap_or_default();
            if last == item
                && let Some(target) = self.absolute(&module, &path)
                && target != abs
            {
                return self.defining(&target, depth - 1);
            }
        }
        module
    }

    /// Each module's imports of modules that are not its ancestors.
    fn edges(&self) -> BTreeMap<&Vec<String>, BTreeSet<Vec<String>>> {
        let mut edges = BTreeMap::new();
        for (at, module) in &self.modules {
            let mut to = BTreeSet::new();
            for path in paths_in(&module.code) {
                let Some(abs) = self.absolute(at, &path) else { continue };
                let target = self.defining(&abs, 8);
                if !at.starts_with(&target) {
                    to.insert(target);
                }
            }
            edges.insert(at, to);
        }
        edges
    }
}

/// The modules on some circle of imports (Tarjan's strongly connected
/// components of more than one module).
fn circles(edges: &BTreeMap<&Vec<String>, BTreeSet<Vec<String>>>) -> Vec<Vec<String>> {
    let mut reach: BTreeMap<&Vec<String>, BTreeSet<&Vec<String>>> = BTreeMap::new();
    for start in edges.keys() {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<&Vec<String>> = vec![start];
        while let Some(m) = stack.pop() {
            for next in edges.get(m).into_iter().flatten() {
                if seen.insert(next) {
                    stack.push(next);
                }
            }
        }
        reach.insert(start, seen);
    }
    let mut found: Vec<Vec<String>> = Vec::new();
    for (a, from_a) in &reach {
        if !from_a.contains(a) || found.iter().any(|c| c.contains(&a.join("::"))) {
            continue;
        }
        let circle = from_a
            .iter()
            .filter(|b| reach.get(**b).is_some_and(|r| r.contains(a)))
            .map(|b| b.join("::"))
            .collect();
        found.push(circle);
    }
    found
}

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    let krate = Crate::read(&crate_dir().join("src"));
    assert!(krate.modules.len() > 40, "the sources were found");
    let edges = krate.edges();
    assert!(
        edges[&vec!["body".to_owned()]].contains(&vec!["http1".to_owned(), "body".to_owned()]),
        "a re-exported import counts against the defining file"
    );
    // Each module on a circle with the modules of that circle it imports.
    let mut found = String::new();
    for circle in circles(&edges) {
        for m in &circle {
            let key: Vec<String> = m.split("::").map(str::to_owned).collect();
            let to: Vec<String> = edges[&key]
                .iter()
                .map(|t| t.join("::"))
                .filter(|t| circle.contains(t))
                .collect();
            found.push_str(&format!("\n  {m} imports {to:?}"));
        }
    }
    assert!(found.is_empty(), "import circles in cirrus-edge:{found}");
}

/// The same at the crate's top level: a module and everything under it
/// is one layer, and no two layers import each other.
#[test]
fn no_top_level_module_imports_one_that_imports_it_back() {
    let krate = Crate::read(&crate_dir().join("src"));
    let top = |m: &Vec<String>| m.first().cloned().into_iter().collect::<Vec<String>>();
    let mut collapsed: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for (from, to) in krate.edges() {
        let from = top(from);
        let to: BTreeSet<Vec<String>> = to.iter().map(top).filter(|t| *t != from && !t.is_empty()).collect();
        collapsed.entry(from).or_default().extend(to);
    }
    let edges: BTreeMap<&Vec<String>, BTreeSet<Vec<String>>> = collapsed.iter().map(|(k, v)| (k, v.clone())).collect();
    let mut found = String::new();
    for circle in circles(&edges) {
        for m in &circle {
            let to: Vec<String> = edges[&vec![m.clone()]]
                .iter()
                .map(|t| t.join("::"))
                .filter(|t| circle.contains(t))
                .collect();
            found.push_str(&format!("\n  {m} imports {to:?}"));
        }
    }
    assert!(
        found.is_empty(),
        "import circles between cirrus-edge's top-level modules:{found}"
    );
}

#[test]
fn no_file_is_over_400_lines() {
    let mut files = Vec::new();
    rust_files(&crate_dir().join("src"), &mut files);
    rust_files(&crate_dir().join("tests"), &mut files);
    let long: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let lines = std::fs::read_to_string(f).unwrap().lines().count();
            (lines > MAX_LINES).then(|| format!("{} ({lines})", f.display()))
        })
        .collect();
    assert!(long.is_empty(), "files over {MAX_LINES} lines: {long:?}");
}

#[test]
fn a_circle_is_found() {
    let a = vec!["a".to_owned()];
    let b = vec!["b".to_owned()];
    let c = vec!["c".to_owned()];
    let edges = BTreeMap::from([
        (&a, BTreeSet::from([b.clone()])),
        (&b, BTreeSet::from([a.clone(), c.clone()])),
        (&c, BTreeSet::new()),
    ]);
    assert_eq!(circles(&edges), vec![vec!["a".to_owned(), "b".to_owned()]]);
    let mut found = Vec::new();
    expand("crate::x::{self, y::{Z, W as V}, Q}", &mut found);
    assert_eq!(
        found,
        ["crate::x::self", "crate::x::y::Z", "crate::x::y::W", "crate::x::Q"]
    );
}
