//! Checks that keep the docs true: the codemap in `docs/ARCHITECTURE.md` names every module
//! file of every crate (and names no file that is gone), and relative links in the README and
//! `docs/` point at files inside the repository.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use crate::{Result, root};

pub(crate) fn check() -> Result {
    eprintln!("\n==> tidy (codemap in docs/ARCHITECTURE.md, relative links in docs)");
    let mut problems = codemap()?;
    problems.extend(links()?);
    if problems.is_empty() {
        eprintln!("<== tidy: ok");
        return Ok(());
    }
    Err(format!("tidy:\n  {}", problems.join("\n  ")))
}

/// The directories whose module files the codemap must name, each with the heading text that
/// opens its section (`### \`crates/tulip-net\``).
fn code_dirs(root: &Path) -> Result<Vec<(String, PathBuf)>> {
    let mut dirs = Vec::new();
    let crates = root.join("crates");
    let entries = fs::read_dir(&crates).map_err(|e| format!("{}: {e}", crates.display()))?;
    for entry in entries.flatten() {
        let src = entry.path().join("src");
        if src.is_dir() {
            let name = entry.file_name().to_string_lossy().into_owned();
            dirs.push((format!("crates/{name}"), src));
        }
    }
    for tool in ["benches", "xtask", "soak"] {
        let src = root.join(tool).join("src");
        if src.is_dir() {
            dirs.push((tool.to_owned(), src));
        }
    }
    dirs.sort();
    Ok(dirs)
}

/// Module files below `src`, relative to it; `lib.rs`/`main.rs` (the section itself stands for
/// them) and `tests.rs` unit-test modules are not asked for.
fn module_files(src: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path
                    .strip_prefix(src)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                if !matches!(rel.as_str(), "lib.rs" | "main.rs") && !rel.ends_with("tests.rs") {
                    out.insert(rel);
                }
            }
        }
    }
    out
}

/// The text of the codemap section for `key`: from its `### ` heading to the next heading.
fn section<'a>(doc: &'a str, key: &str) -> Option<&'a str> {
    let heading = format!("`{key}`");
    let start = doc.match_indices("\n### ").map(|(i, _)| i + 1).find(|&i| {
        doc[i..]
            .lines()
            .next()
            .is_some_and(|l| l.contains(&heading))
    })?;
    let body = &doc[start..];
    let first_line = body.find('\n').map_or(body.len(), |n| n + 1);
    let end = body[first_line..]
        .find("\n## ")
        .into_iter()
        .chain(body[first_line..].find("\n### "))
        .min()
        .map_or(body.len(), |n| first_line + n);
    Some(&body[..end])
}

/// Names written in backticks in a section: `*.rs` paths (`` `runtime/loop_api.rs` ``), and
/// directories (`` `runtime/` ``), which stand for their `mod.rs`.
fn named_files(section: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut files = BTreeSet::new();
    let mut dirs = BTreeSet::new();
    for name in section.split('`').skip(1).step_by(2) {
        if name.contains(' ') || name.starts_with('/') {
            continue;
        }
        if name.ends_with(".rs") {
            files.insert(name.to_owned());
        } else if name.ends_with('/') && name.len() > 1 {
            dirs.insert(format!("{name}mod.rs"));
        }
    }
    (files, dirs)
}

fn codemap() -> Result<Vec<String>> {
    let root = root();
    let path = root.join("docs/ARCHITECTURE.md");
    let doc = fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut problems = Vec::new();
    for (key, src) in code_dirs(&root)? {
        let files = module_files(&src);
        let Some(text) = section(&doc, &key) else {
            problems.push(format!(
                "docs/ARCHITECTURE.md has no codemap section headed `### `{key}``: add one naming \
                 its module files"
            ));
            continue;
        };
        let (named, dirs) = named_files(text);
        for file in files
            .iter()
            .filter(|f| !named.contains(*f) && !dirs.contains(*f))
        {
            problems.push(format!(
                "docs/ARCHITECTURE.md: the `{key}` section does not name `{file}` (say in a \
                 sentence what it is for, with its path in backticks)"
            ));
        }
        // A `.rs` path named here must exist (files outside `src/`, like `tests/loom.rs`,
        // are written with their directory and are not checked).
        for file in named.difference(&files) {
            let outside_src = file.starts_with("tests/") || file.starts_with("../");
            let exempt =
                matches!(file.as_str(), "lib.rs" | "main.rs") || file.ends_with("tests.rs");
            if !outside_src && !exempt {
                problems.push(format!(
                    "docs/ARCHITECTURE.md: the `{key}` section names `{file}`, which does not \
                     exist under {key}/src"
                ));
            }
        }
    }
    Ok(problems)
}

/// Relative Markdown links (`](path)`) in README.md and docs/ must name a file or directory
/// inside the repository.
fn links() -> Result<Vec<String>> {
    let root = root();
    let mut docs = vec![root.join("README.md")];
    let mut stack = vec![root.join("docs")];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "md") {
                docs.push(path);
            }
        }
    }
    let canonical_root = root.canonicalize().map_err(|e| format!("{e}"))?;
    let mut problems = Vec::new();
    for doc in docs {
        let text = fs::read_to_string(&doc).map_err(|e| format!("{}: {e}", doc.display()))?;
        for target in text.split("](").skip(1).filter_map(|s| s.split(')').next()) {
            let target = target.split('#').next().unwrap_or("");
            if target.is_empty() || target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let resolved = doc.parent().unwrap().join(target);
            let inside = resolved
                .canonicalize()
                .is_ok_and(|p| p.starts_with(&canonical_root));
            if !inside {
                problems.push(format!(
                    "{}: link to `{target}` does not resolve to a file in the repository",
                    doc.strip_prefix(&root).unwrap_or(&doc).display()
                ));
            }
        }
    }
    Ok(problems)
}
