//! Tidy checks over the source tree (rust-analyzer's `tidy.rs`).
//!
//! - every `.rs` file under `crates/`, `xtask/` and `tests/` opens with a `//!` doc;
//! - no `.rs` file holds an ignored or should-panic test, a debug-print macro,
//!   or a todo / unimplemented placeholder (the markers are spelled in pieces
//!   below so this file does not match itself);
//! - every workspace member's `Cargo.toml` has `[lints] workspace = true`;
//! - the wall clock is read only through `kage_ports::SystemClock`: see
//!   [`clock_allowed`] for where else a clock call may appear.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// Folders whose `.rs` files tidy reads (relative to the workspace root).
const SOURCE_ROOTS: &[&str] = &["crates", "xtask", "tests"];

/// Text that must not appear in any `.rs` file, with the reason.
const BANNED: &[(&str, &str)] = &[
    (
        concat!("#[", "ignore"),
        "no ignored tests: a test that cannot run is not a test",
    ),
    (
        concat!("#[", "should_panic"),
        "no should-panic tests: assert on the returned error",
    ),
    (concat!("dbg", "!("), "no debug-print macros left behind"),
    (
        concat!("todo", "!("),
        "no placeholders: finish it or leave it out",
    ),
    (
        concat!("unimplemented", "!("),
        "no placeholders: finish it or leave it out",
    ),
];

/// Calls that read the wall clock; time comes through the `Clock` port.
const CLOCK_CALLS: &[&str] = &[
    concat!("Timestamp::", "now()"),
    concat!("SystemTime::", "now()"),
    concat!("Zoned::", "now()"),
];

/// The one production file that reads the wall clock.
const SYSTEM_CLOCK: &str = "crates/kage-ports/src/clock.rs";

/// Runs every tidy check and reports all problems at once.
pub(crate) fn check(root: &Path) -> Result<()> {
    let files = SourceFile::collect(root)?;
    let mut problems = Vec::new();
    problems.extend(missing_module_docs(&files));
    problems.extend(banned_markers(&files));
    problems.extend(clock_calls(&files));
    problems.extend(manifests_without_workspace_lints(root)?);
    if !problems.is_empty() {
        bail!(
            "tidy found {} problem(s):\n  {}",
            problems.len(),
            problems.join("\n  ")
        );
    }
    Ok(())
}

pub(crate) struct SourceFile {
    /// Relative to the workspace root, with `/` separators.
    path: String,
    text: String,
}

impl SourceFile {
    fn collect(root: &Path) -> Result<Vec<Self>> {
        let mut paths = Vec::new();
        for source_root in SOURCE_ROOTS {
            walk(&root.join(source_root), &mut paths)?;
        }
        paths.sort();
        paths
            .into_iter()
            .map(|path| {
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("could not read {}", path.display()))?;
                let relative = path.strip_prefix(root).unwrap_or(&path);
                let path = relative.to_string_lossy().replace('\\', "/");
                Ok(Self { path, text })
            })
            .collect()
    }
}

/// Every `.rs` file under `dir`, skipping `target` and hidden folders.
fn walk(dir: &Path, found: &mut Vec<PathBuf>) -> Result<()> {
    if !dir.is_dir() {
        return Ok(());
    }
    for entry in
        std::fs::read_dir(dir).with_context(|| format!("could not list {}", dir.display()))?
    {
        let entry = entry?;
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if entry.file_type()?.is_dir() {
            if name != "target" && !name.starts_with('.') {
                walk(&path, found)?;
            }
        } else if name.ends_with(".rs") {
            found.push(path);
        }
    }
    Ok(())
}

fn missing_module_docs(files: &[SourceFile]) -> Vec<String> {
    files
        .iter()
        .filter(|file| {
            let first = file
                .text
                .lines()
                .map(str::trim)
                .find(|line| !line.is_empty());
            !first.is_some_and(|line| line.starts_with("//!"))
        })
        .map(|file| {
            format!(
                "{}: the file must open with a `//!` doc comment saying what it is for",
                file.path
            )
        })
        .collect()
}

fn banned_markers(files: &[SourceFile]) -> Vec<String> {
    let mut problems = Vec::new();
    for file in files {
        for (number, line) in file.text.lines().enumerate() {
            for (marker, reason) in BANNED {
                if line.contains(marker) {
                    problems.push(format!(
                        "{}:{}: `{marker}`: {reason}",
                        file.path,
                        number + 1
                    ));
                }
            }
        }
    }
    problems
}

/// Where a clock call is allowed: the system clock itself, benchmarks (`benches/`),
/// test files (a `tests/` folder, the `kage-tests` package, `tests.rs` modules) and
/// the inline `#[cfg(test)] mod …` that closes a source file.
pub(crate) fn clock_allowed(path: &str) -> bool {
    let components: Vec<&str> = path.split('/').collect();
    path == SYSTEM_CLOCK
        || components.contains(&"benches")
        || components.contains(&"tests")
        || components.last() == Some(&"tests.rs")
}

fn clock_calls(files: &[SourceFile]) -> Vec<String> {
    let mut problems = Vec::new();
    for file in files.iter().filter(|file| !clock_allowed(&file.path)) {
        let lines: Vec<&str> = file.text.lines().collect();
        for (number, line) in lines.iter().enumerate() {
            if starts_test_module(&lines, number) {
                break;
            }
            for call in CLOCK_CALLS {
                if line.contains(call) {
                    problems.push(format!(
                        "{}:{}: `{call}` reads the wall clock; take a `now: Timestamp` or a `Clock` \
                         (an app can use `kage_ports::SystemClock`); only {SYSTEM_CLOCK}, benches \
                         and tests read system time",
                        file.path,
                        number + 1
                    ));
                }
            }
        }
    }
    problems
}

/// Line `number` is `#[cfg(test)]` and the next item is a `mod`: test code from here on.
fn starts_test_module(lines: &[&str], number: usize) -> bool {
    lines[number].trim() == "#[cfg(test)]"
        && lines[number + 1..]
            .iter()
            .map(|line| line.trim())
            .find(|line| !line.is_empty() && !line.starts_with("#[") && !line.starts_with("//"))
            .is_some_and(|line| line.starts_with("mod ") || line.starts_with("pub(crate) mod "))
}

/// Workspace members whose `Cargo.toml` lacks `[lints] workspace = true`.
fn manifests_without_workspace_lints(root: &Path) -> Result<Vec<String>> {
    let mut manifests = vec![root.join("xtask/Cargo.toml"), root.join("tests/Cargo.toml")];
    let crates = root.join("crates");
    for entry in std::fs::read_dir(&crates)
        .with_context(|| format!("could not list {}", crates.display()))?
    {
        let manifest = entry?.path().join("Cargo.toml");
        if manifest.is_file() {
            manifests.push(manifest);
        }
    }
    manifests.sort();
    let mut problems = Vec::new();
    for manifest in manifests {
        let text = std::fs::read_to_string(&manifest)
            .with_context(|| format!("could not read {}", manifest.display()))?;
        if !has_workspace_lints(&text) {
            let relative = manifest.strip_prefix(root).unwrap_or(&manifest);
            problems.push(format!(
                "{}: add `[lints]` with `workspace = true` so the workspace lints apply",
                relative.display()
            ));
        }
    }
    Ok(problems)
}

fn has_workspace_lints(manifest: &str) -> bool {
    let mut in_lints = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_lints = line == "[lints]";
        } else if in_lints && line.replace(' ', "") == "workspace=true" {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, text: &str) -> SourceFile {
        SourceFile {
            path: path.to_owned(),
            text: text.to_owned(),
        }
    }

    fn assert_tidy(problems: Vec<String>) {
        assert!(
            problems.is_empty(),
            "tidy found {} problem(s):\n  {}",
            problems.len(),
            problems.join("\n  ")
        );
    }

    fn workspace_files() -> Vec<SourceFile> {
        SourceFile::collect(&crate::shell::root()).expect("read the source tree")
    }

    #[test]
    fn every_module_has_a_doc_comment() {
        assert_tidy(missing_module_docs(&workspace_files()));
    }

    #[test]
    fn no_banned_markers() {
        assert_tidy(banned_markers(&workspace_files()));
    }

    #[test]
    fn wall_clock_only_through_system_clock() {
        assert_tidy(clock_calls(&workspace_files()));
    }

    #[test]
    fn every_manifest_uses_workspace_lints() {
        assert_tidy(manifests_without_workspace_lints(&crate::shell::root()).unwrap());
    }

    #[test]
    fn module_docs_are_required_first() {
        let files = [
            file("a.rs", "\n//! Good.\nfn f() {}\n"),
            file("b.rs", "/// Item doc, not a module doc.\nfn f() {}\n"),
            file("c.rs", "#![allow(dead_code)]\n//! Too late.\n"),
            file("d.rs", ""),
        ];
        let problems = missing_module_docs(&files);
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].starts_with("b.rs:"));
    }

    #[test]
    fn banned_markers_are_found_with_their_line() {
        let ignored = format!("#[test]\n#[{}]\nfn f() {{}}\n", "ignore");
        let debug = format!("//! Doc.\nfn f() {{ {}(1); }}\n", "dbg!");
        let problems = banned_markers(&[
            file("x.rs", &ignored),
            file("y.rs", &debug),
            file("z.rs", "//! Clean.\n"),
        ]);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].starts_with("x.rs:2:"), "{problems:?}");
        assert!(problems[1].starts_with("y.rs:2:"), "{problems:?}");
    }

    #[test]
    fn clock_calls_outside_the_allow_list_are_found() {
        let call = format!("let now = Timestamp::{}();", "now");
        let in_source = format!("//! Doc.\nfn f() {{ {call} }}\n");
        let in_test_module =
            format!("//! Doc.\nfn f() {{}}\n\n#[cfg(test)]\nmod tests {{\n    {call}\n}}\n");
        let after_cfg_test_fn =
            format!("//! Doc.\n#[cfg(test)]\nfn helper() {{}}\nfn f() {{ {call} }}\n");
        let files = [
            file("crates/kage-core/src/lease.rs", &in_source),
            file("crates/kage-core/src/route.rs", &in_test_module),
            file("crates/kage-core/src/other.rs", &after_cfg_test_fn),
            file("crates/kage-ports/src/clock.rs", &in_source),
            file("crates/kage-domain/benches/selection.rs", &in_source),
            file("crates/kage-store-sql/tests/it/main.rs", &in_source),
            file("tests/src/lib.rs", &in_source),
        ];
        let problems = clock_calls(&files);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(
            problems[0].starts_with("crates/kage-core/src/lease.rs:2:"),
            "{problems:?}"
        );
        assert!(
            problems[1].starts_with("crates/kage-core/src/other.rs:4:"),
            "{problems:?}"
        );
    }

    #[test]
    fn workspace_lints_table_is_recognised() {
        assert!(has_workspace_lints(
            "[package]\nname = \"a\"\n\n[lints]\nworkspace = true\n"
        ));
        assert!(!has_workspace_lints(
            "[package]\nworkspace = true\n[lints]\n"
        ));
        assert!(!has_workspace_lints("[lints.clippy]\nworkspace = true\n"));
    }
}
