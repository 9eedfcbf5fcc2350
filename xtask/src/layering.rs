//! The crate dependency direction, checked (rust-analyzer does the same with
//! `cargo tree -i salsa`).
//!
//! - `kage-domain` is pure: its normal dependency tree holds none of
//!   [`DOMAIN_FORBIDDEN`].
//! - `kage-ports` knows no technology: its tree holds none of [`PORTS_FORBIDDEN`].
//! - `kage-domain` depends on no workspace crate; `kage-ports` and
//!   `kage-claude-code` (Claude Code's file formats) only on `kage-domain`.
//! - The shipped binaries (`kage-cli`, `kage-agent`) hold none of
//!   [`TEST_ONLY`]: the Anthropic API stand-in's HTTP server stays in `kage-tests`.
//! - Only [`ADAPTER_USERS`] depend (in any way) on the adapter crates [`ADAPTERS`]:
//!   the composition root `kage-app`, the apps and the end-to-end tests.
//! - No app ([`APPS`]) depends (in any way) on another app: what two apps
//!   share lives in `kage-app`.
//! - Building needs nothing but the Rust toolchain: the workspace's normal and
//!   build tree holds no `-sys` crate but [`SYS_CRATES_WITHOUT_SYSTEM_LIBRARY`]
//!   (`libdbus-sys`, for one, needs pkg-config and libdbus-1-dev).

use anyhow::{Context, Result, bail};

use crate::shell;

/// Crates (and their families: `tokio-util`, `serde_json`, `clap_builder`, …) kage-domain must not pull in.
pub(crate) const DOMAIN_FORBIDDEN: &[&str] = &[
    "tokio",
    "sqlx",
    "serde",
    "keyring",
    "clap",
    "async-trait",
    "mockall",
];
/// Crates kage-ports must not pull in: it is the contract, not an implementation.
pub(crate) const PORTS_FORBIDDEN: &[&str] = &["sqlx", "keyring", "clap"];
/// Crates only the end-to-end tests' API stand-in may use (an HTTP server;
/// `kage metrics --listen` has its own small responder, `kage-cli/src/http.rs`).
pub(crate) const TEST_ONLY: &[&str] = &["axum", "hyper", "tower"];
/// Adapter crates: only the composition root, the applications (and the
/// end-to-end tests) construct them.
pub(crate) const ADAPTERS: &[&str] = &["kage-store-sql", "kage-secrets"];
pub(crate) const ADAPTER_USERS: &[&str] = &["kage-app", "kage-cli", "kage-agent", "kage-tests"];
/// The binaries people run; none may depend on another.
pub(crate) const APPS: &[&str] = &["kage-cli", "kage-agent"];
/// The `-sys` crates that need no system library: SQLite is compiled from the
/// bundled source (a C compiler, not a package), linux-raw-sys is plain Rust.
pub(crate) const SYS_CRATES_WITHOUT_SYSTEM_LIBRARY: &[&str] = &["libsqlite3-sys", "linux-raw-sys"];

/// Runs every layering rule and reports all violations at once.
pub(crate) fn check() -> Result<()> {
    let mut violations = Vec::new();
    violations.extend(forbidden_in_tree("kage-domain", DOMAIN_FORBIDDEN)?);
    violations.extend(forbidden_in_tree("kage-ports", PORTS_FORBIDDEN)?);
    violations.extend(forbidden_in_tree("kage-cli", TEST_ONLY)?);
    violations.extend(forbidden_in_tree("kage-agent", TEST_ONLY)?);
    let metadata = shell::workspace_metadata()?;
    violations.extend(internal_dependency_violations(&metadata)?);
    violations.extend(system_library_crates()?);
    if !violations.is_empty() {
        bail!("layering violated:\n  {}", violations.join("\n  "));
    }
    Ok(())
}

/// Crates in `package`'s normal (non-dev, non-build) tree, for every target, that are forbidden.
fn forbidden_in_tree(package: &str, forbidden: &[&str]) -> Result<Vec<String>> {
    let tree = shell::output(shell::cargo().args([
        "tree", "-p", package, "-e", "normal", "--prefix", "none", "--target", "all",
    ]))?;
    let mut found: Vec<String> = tree
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| forbidden.iter().any(|banned| in_family(name, banned)))
        .map(|name| {
            format!(
                "{package} depends on `{name}` (its normal dependency tree must not hold {})",
                forbidden.join(", ")
            )
        })
        .collect();
    found.sort();
    found.dedup();
    Ok(found)
}

/// `-sys` crates in the workspace's normal and build tree (this host's
/// target) that would need a system library, such as `libdbus-sys`.
fn system_library_crates() -> Result<Vec<String>> {
    let tree = shell::output(shell::cargo().args([
        "tree",
        "--workspace",
        "-e",
        "normal,build",
        "--prefix",
        "none",
    ]))?;
    Ok(sys_crates_needing_a_library(&tree))
}

fn sys_crates_needing_a_library(tree: &str) -> Vec<String> {
    let mut found: Vec<String> = tree
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| name.ends_with("-sys") && !SYS_CRATES_WITHOUT_SYSTEM_LIBRARY.contains(name))
        .map(|name| {
            format!(
                "the workspace depends on `{name}`, which needs a system library (and usually \
                 pkg-config) to build; use a pure-Rust crate or a bundled feature instead, so \
                 `cargo build` needs nothing but the Rust toolchain"
            )
        })
        .collect();
    found.sort();
    found.dedup();
    found
}

/// `name` is `banned` or one of its sub-crates (`tokio-util`, `serde_json`, `clap_builder`).
fn in_family(name: &str, banned: &str) -> bool {
    name.strip_prefix(banned)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(['-', '_']))
}

/// Rules on dependencies between workspace crates, from `cargo metadata --no-deps`.
fn internal_dependency_violations(metadata: &serde_json::Value) -> Result<Vec<String>> {
    let packages = metadata["packages"]
        .as_array()
        .context("cargo metadata has no packages")?;
    let mut violations = Vec::new();
    for package in packages {
        let name = package["name"]
            .as_str()
            .context("a package without a name")?;
        let dependencies = package["dependencies"]
            .as_array()
            .context("a package without dependencies")?;
        for dependency in dependencies {
            let dependency_name = dependency["name"]
                .as_str()
                .context("a dependency without a name")?;
            let internal = dependency["path"].is_string();
            let kind = dependency["kind"].as_str().unwrap_or("normal");
            if let Some(rule) = internal_rule_broken(name, dependency_name, internal, kind) {
                violations.push(format!(
                    "{name} depends on {dependency_name} ({kind}): {rule}"
                ));
            }
        }
    }
    Ok(violations)
}

fn internal_rule_broken(
    package: &str,
    dependency: &str,
    internal: bool,
    kind: &str,
) -> Option<&'static str> {
    if ADAPTERS.contains(&dependency) && !ADAPTER_USERS.contains(&package) {
        return Some(
            "only kage-app, kage-cli, kage-agent and kage-tests may depend on an adapter crate",
        );
    }
    if APPS.contains(&package) && APPS.contains(&dependency) {
        return Some("no app depends on another app; move what they share into kage-app");
    }
    let normal = kind == "normal";
    if package == "kage-domain" && internal && normal {
        return Some("kage-domain depends on no other workspace crate");
    }
    if package == "kage-ports" && internal && normal && dependency != "kage-domain" {
        return Some("kage-ports depends only on kage-domain");
    }
    if package == "kage-claude-code" && internal && normal && dependency != "kage-domain" {
        return Some(
            "kage-claude-code reads Claude Code's files and depends only on kage-domain; \
             the store and the apps use it, not the other way round",
        );
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_none(violations: Vec<String>) {
        assert!(
            violations.is_empty(),
            "layering violated:\n  {}",
            violations.join("\n  ")
        );
    }

    #[test]
    fn kage_domain_is_pure() {
        assert_none(forbidden_in_tree("kage-domain", DOMAIN_FORBIDDEN).unwrap());
    }

    #[test]
    fn kage_ports_holds_no_technology() {
        assert_none(forbidden_in_tree("kage-ports", PORTS_FORBIDDEN).unwrap());
    }

    #[test]
    fn workspace_crates_depend_in_the_right_direction() {
        let metadata = shell::workspace_metadata().unwrap();
        assert_none(internal_dependency_violations(&metadata).unwrap());
    }

    #[test]
    fn no_sys_crate_needs_a_system_library() {
        assert_none(system_library_crates().unwrap());
    }

    #[test]
    fn sys_crates_are_recognised() {
        let tree = "kage-secrets v0.0.0 (/w)\nlibdbus-sys v0.2.7\nlibsqlite3-sys v0.30.1 (*)\n\
                    linux-raw-sys v0.12.1\nlibdbus-sys v0.2.7 (*)\nsys-info v1\n";
        let found = sys_crates_needing_a_library(tree);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("`libdbus-sys`"), "{found:?}");
    }

    #[test]
    fn crate_families() {
        assert!(in_family("tokio", "tokio"));
        assert!(in_family("tokio-util", "tokio"));
        assert!(in_family("serde_json", "serde"));
        assert!(in_family("clap_builder", "clap"));
        assert!(!in_family("tokiox", "tokio"));
        assert!(!in_family("serdect", "serde"));
        assert!(!in_family("jiff", "serde"));
    }

    #[test]
    fn adapter_and_internal_rules() {
        assert!(internal_rule_broken("kage-core", "kage-store-sql", true, "normal").is_some());
        assert!(internal_rule_broken("kage-core", "kage-secrets", true, "dev").is_some());
        assert!(internal_rule_broken("kage-cli", "kage-store-sql", true, "normal").is_none());
        assert!(internal_rule_broken("kage-tests", "kage-secrets", true, "dev").is_none());
        assert!(internal_rule_broken("kage-domain", "kage-ports", true, "normal").is_some());
        assert!(internal_rule_broken("kage-domain", "jiff", false, "normal").is_none());
        assert!(internal_rule_broken("kage-ports", "kage-domain", true, "normal").is_none());
        assert!(internal_rule_broken("kage-ports", "kage-core", true, "normal").is_some());
        assert!(internal_rule_broken("kage-claude-code", "kage-domain", true, "normal").is_none());
        assert!(internal_rule_broken("kage-claude-code", "kage-ports", true, "normal").is_some());
        assert!(internal_rule_broken("kage-claude-code", "serde_json", false, "normal").is_none());
    }

    #[test]
    fn no_app_depends_on_another_app() {
        assert!(internal_rule_broken("kage-agent", "kage-cli", true, "normal").is_some());
        assert!(internal_rule_broken("kage-cli", "kage-agent", true, "dev").is_some());
        assert!(internal_rule_broken("kage-agent", "kage-app", true, "normal").is_none());
        assert!(internal_rule_broken("kage-cli", "kage-app", true, "normal").is_none());
        assert!(internal_rule_broken("kage-app", "kage-store-sql", true, "normal").is_none());
        assert!(internal_rule_broken("kage-tests", "kage-agent", true, "normal").is_none());
        let metadata = serde_json::json!({"packages": [
            {"name": "kage-agent", "dependencies": [
                {"name": "kage-app", "kind": null, "path": "/w/crates/kage-app"},
                {"name": "kage-cli", "kind": null, "path": "/w/crates/kage-cli"},
            ]},
        ]});
        let violations = internal_dependency_violations(&metadata).unwrap();
        assert_eq!(violations.len(), 1, "{violations:?}");
        assert!(violations[0].starts_with("kage-agent depends on kage-cli (normal)"));
    }

    #[test]
    fn metadata_rules_see_a_violation() {
        let metadata = serde_json::json!({"packages": [
            {"name": "kage-core", "dependencies": [
                {"name": "kage-ports", "kind": null, "path": "/w/crates/kage-ports"},
                {"name": "kage-store-sql", "kind": "dev", "path": "/w/crates/kage-store-sql"},
            ]},
        ]});
        let violations = internal_dependency_violations(&metadata).unwrap();
        assert_eq!(violations.len(), 1, "{violations:?}");
        assert!(violations[0].starts_with("kage-core depends on kage-store-sql (dev)"));
    }
}
