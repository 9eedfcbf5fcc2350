//! The `deny` step: `cargo deny --offline check` against the advisory-database
//! snapshot, never the network.
//!
//! The snapshot is a git bundle (`KAGE_ADVISORY_BUNDLE`, else
//! `../shared/advisory-db.bundle` next to the workspace). It is cloned afresh
//! on every run into the folder cargo-deny derives from `deny.toml`'s
//! `db-path` and the default `db-urls` entry: `advisory-db-3157b0e258782691`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::shell;

/// The cargo-deny `.ci/run` installs (`cargo install --locked cargo-deny@VERSION`).
pub(crate) const CARGO_DENY_VERSION: &str = "0.20.2";
/// cargo-deny's folder name for <https://github.com/rustsec/advisory-db> (since 0.18).
const ADVISORY_DB_FOLDER: &str = "advisory-db-3157b0e258782691";

pub(crate) fn check() -> Result<()> {
    let root = shell::root();
    let version = shell::output(shell::cargo().args(["deny", "--version"])).with_context(|| {
        format!("cargo-deny is not installed; run `cargo install --locked cargo-deny@{CARGO_DENY_VERSION}`")
    })?;
    eprintln!("{}", version.trim());

    let bundle = bundle_path(&root)?;
    let deny_toml =
        std::fs::read_to_string(root.join("deny.toml")).context("could not read deny.toml")?;
    let db_root = root.join(db_path(&deny_toml)?);
    let db = db_root.join(ADVISORY_DB_FOLDER);
    if db.exists() {
        std::fs::remove_dir_all(&db)
            .with_context(|| format!("could not remove {}", db.display()))?;
    }
    std::fs::create_dir_all(&db_root)
        .with_context(|| format!("could not create {}", db_root.display()))?;
    shell::run(
        Command::new("git")
            .arg("clone")
            .args(["--quiet", "-b", "main"])
            .arg(&bundle)
            .arg(&db),
    )
    .with_context(|| {
        format!(
            "could not clone the advisory database from {}",
            bundle.display()
        )
    })?;
    let head = shell::output(Command::new("git").arg("-C").arg(&db).args([
        "log",
        "-1",
        "--format=%h %cs %s",
    ]))?;
    eprintln!("advisory database: {}", head.trim());

    shell::run(shell::cargo().args(["deny", "--offline", "check"]))
}

fn bundle_path(root: &Path) -> Result<PathBuf> {
    let (bundle, source) = match std::env::var_os("KAGE_ADVISORY_BUNDLE") {
        Some(path) if !path.is_empty() => (PathBuf::from(path), "KAGE_ADVISORY_BUNDLE"),
        _ => (
            root.join("../shared/advisory-db.bundle"),
            "the default path",
        ),
    };
    if !bundle.is_file() {
        bail!(
            "the advisory database snapshot {} ({source}) does not exist; set KAGE_ADVISORY_BUNDLE \
             to the advisory-db git bundle",
            bundle.display()
        );
    }
    Ok(bundle)
}

/// The `db-path` value of `deny.toml`'s `[advisories]` table (relative to the workspace root).
fn db_path(deny_toml: &str) -> Result<String> {
    let mut in_advisories = false;
    for line in deny_toml.lines().map(str::trim) {
        if line.starts_with('[') {
            in_advisories = line == "[advisories]";
        } else if in_advisories && let Some(value) = line.strip_prefix("db-path") {
            let value = value
                .trim_start()
                .strip_prefix('=')
                .unwrap_or_default()
                .trim();
            let value = value
                .split('#')
                .next()
                .unwrap_or_default()
                .trim()
                .trim_matches('"');
            if value.is_empty() || value.starts_with('~') || value.contains('$') {
                bail!(
                    "deny.toml's db-path must be a plain path (xtask clones the snapshot there), got `{value}`"
                );
            }
            return Ok(value.to_owned());
        }
    }
    bail!(
        "deny.toml has no [advisories] db-path; xtask needs it to know where to clone the snapshot"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn db_path_is_read_from_the_advisories_table() {
        let toml = "[graph]\ndb-path = \"wrong\"\n[advisories]\n# where\ndb-path = \"target/advisory-dbs\" # ok\n";
        assert_eq!(db_path(toml).unwrap(), "target/advisory-dbs");
        assert!(db_path("[advisories]\ndb-path = \"~/.cargo/advisory-dbs\"\n").is_err());
        assert!(db_path("[advisories]\n").is_err());
    }

    #[test]
    fn the_workspace_deny_toml_names_a_db_path_under_target() {
        let deny_toml =
            std::fs::read_to_string(shell::root().join("deny.toml")).expect("deny.toml");
        assert!(db_path(&deny_toml).unwrap().starts_with("target/"));
    }

    #[test]
    fn ci_run_installs_the_pinned_cargo_deny() {
        let script = std::fs::read_to_string(shell::root().join(".ci/run")).expect(".ci/run");
        let pinned = format!("CARGO_DENY_VERSION={CARGO_DENY_VERSION}");
        assert!(
            script.contains(&pinned),
            ".ci/run must set {pinned}, as xtask/src/deny.rs does"
        );
    }
}
