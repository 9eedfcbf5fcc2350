//! `cargo xtask bench`: runs the benchmarks in [`BENCHES`] in order and prints
//! their figures.
//!
//! The selection benchmark is criterion's: after it runs, the medians in
//! `target/criterion/selection/<strategy>/<size>/new/estimates.json` are
//! printed as a size × strategy table against the speed goals (under 1 µs at
//! 100 subscriptions, under 100 µs at 10,000, per strategy; the `unavailable`
//! and `explain` rows are shown without a goal), each beside the `baseline`
//! measured in the same run on the same pool (one plain pass that keeps the
//! highest-priority active entry). The other benchmarks print their
//! own figures. A benchmark whose package or target does not exist yet is
//! skipped with a note, so a slot can be listed before its code lands.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context, Result, bail};

use crate::shell;
use crate::test::Postgres;

#[derive(Debug, Default)]
pub(crate) struct BenchOptions {
    only: Option<String>,
    list: bool,
}

impl BenchOptions {
    pub(crate) fn parse(args: &[String]) -> Result<Self> {
        let mut options = Self::default();
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--only" => match args.next() {
                    Some(name) => options.only = Some(name.clone()),
                    None => bail!(
                        "`--only` needs a benchmark name; `cargo xtask bench --list` shows them"
                    ),
                },
                "--list" => options.list = true,
                other => bail!(
                    "unknown option `{other}` for `cargo xtask bench` (try --only NAME or --list)"
                ),
            }
        }
        Ok(options)
    }
}

/// The cargo target a benchmark needs before it can run.
#[derive(Clone, Copy, Debug)]
enum Target {
    Bench(&'static str),
    Bin(&'static str),
}

/// How a benchmark's results are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Report {
    /// Criterion estimates of the selection group, checked against the speed goals.
    SelectionTable,
    /// The command prints its own figures.
    Printed,
}

struct Bench {
    name: &'static str,
    package: &'static str,
    target: Target,
    cargo_args: &'static [&'static str],
    report: Report,
}

/// Every benchmark, in the order `cargo xtask bench` runs them.
const BENCHES: &[Bench] = &[
    Bench {
        name: "selection",
        package: "kage-domain",
        target: Target::Bench("selection"),
        cargo_args: &["bench", "-p", "kage-domain", "--bench", "selection"],
        report: Report::SelectionTable,
    },
    // The store benchmark (kage-store-sql's `benches/store.rs`). Gets
    // KAGE_TEST_DB_URL when a PostgreSQL server is there.
    Bench {
        name: "store",
        package: "kage-store-sql",
        target: Target::Bench("store"),
        cargo_args: &["bench", "-p", "kage-store-sql", "--bench", "store"],
        report: Report::Printed,
    },
    // `kage subscription status` as a whole process, 100 subscriptions and 1,000,000
    // usage records (goal: under 50 ms).
    Bench {
        name: "cli-status",
        package: "kage-cli",
        target: Target::Bench("status"),
        cargo_args: &["bench", "-p", "kage-cli", "--bench", "status"],
        report: Report::Printed,
    },
    // `kage metrics --listen`: 50 concurrent scrapes of a pool with 1,000,000
    // usage records (goal: all answer, p99 under 50 ms).
    Bench {
        name: "metrics-listen",
        package: "kage-cli",
        target: Target::Bench("metrics_listen"),
        cargo_args: &["bench", "-p", "kage-cli", "--bench", "metrics_listen"],
        report: Report::Printed,
    },
    // `kage statusline` as a whole process on the same pool (goal: under 10 ms at p99).
    Bench {
        name: "cli-statusline",
        package: "kage-cli",
        target: Target::Bench("statusline"),
        cargo_args: &["bench", "-p", "kage-cli", "--bench", "statusline"],
        report: Report::Printed,
    },
    // Claude Code transcripts: 1 GB imported beside a memchr line count of the
    // same files (goal: within 3x), and a re-read after 1 MB more (goal:
    // proportional to the new bytes).
    Bench {
        name: "transcript-import",
        package: "kage-claude-code",
        target: Target::Bench("transcript_import"),
        cargo_args: &[
            "bench",
            "-p",
            "kage-claude-code",
            "--bench",
            "transcript_import",
        ],
        report: Report::Printed,
    },
    // `kage claude`'s failover gap with the real Claude Code and the API stand-in
    // (goal: under 200 ms beyond Claude Code's own start-up).
    Bench {
        name: "failover-gap",
        package: "kage-tests",
        target: Target::Bench("failover_gap"),
        cargo_args: &["bench", "-p", "kage-tests", "--bench", "failover_gap"],
        report: Report::Printed,
    },
    // The runner's overhead per agent (goal: under 5 ms, linear up to 64 in parallel).
    Bench {
        name: "agent-overhead",
        package: "kage-agent",
        target: Target::Bin("kage-agent-bench"),
        cargo_args: &[
            "run",
            "--release",
            "-p",
            "kage-agent",
            "--bin",
            "kage-agent-bench",
        ],
        report: Report::Printed,
    },
    // One git worktree per task on a repository of 10,000 files, beside the
    // runner without and `git worktree add` alone (goal: no more than add + remove).
    Bench {
        name: "agent-worktree",
        package: "kage-agent",
        target: Target::Bin("kage-agent-bench"),
        cargo_args: &[
            "run",
            "--release",
            "-p",
            "kage-agent",
            "--bin",
            "kage-agent-bench",
            "--",
            "--worktree",
        ],
        report: Report::Printed,
    },
];

/// Speed goals of the selection benchmark: (subscriptions, median must stay under, in ns).
const SELECTION_GOALS: &[(u64, f64)] = &[(100, 1_000.0), (10_000, 100_000.0)];
/// Benchmark functions that are not a strategy choosing a subscription, shown
/// without a goal (the goals are per strategy): `unavailable` is the path where
/// nothing can be chosen and `select` builds every reason and the earliest
/// recovery; `explain` sorts every entry for a diagnostic screen.
const WITHOUT_GOAL: &[&str] = &["baseline", "explain", "unavailable"];
/// The benchmark function every row is shown beside (same size, same run).
const BASELINE: &str = "baseline";

pub(crate) fn run(options: &BenchOptions) -> Result<()> {
    if options.list {
        for bench in BENCHES {
            println!("{:<16} cargo {}", bench.name, bench.cargo_args.join(" "));
        }
        return Ok(());
    }
    let selected: Vec<&Bench> = match &options.only {
        Some(name) => {
            let bench = BENCHES
                .iter()
                .find(|bench| bench.name == name)
                .with_context(|| {
                    let names: Vec<&str> = BENCHES.iter().map(|bench| bench.name).collect();
                    format!(
                        "no benchmark called `{name}`; the benchmarks are: {}",
                        names.join(", ")
                    )
                })?;
            vec![bench]
        }
        None => BENCHES.iter().collect(),
    };

    let metadata = shell::workspace_metadata()?;
    let postgres = Postgres::from_env()?;
    let mut failures = Vec::new();
    let mut skipped = Vec::new();
    for bench in selected {
        eprintln!(
            "\n==> bench {}: cargo {}",
            bench.name,
            bench.cargo_args.join(" ")
        );
        if let Some(missing) = missing_target(&metadata, bench) {
            eprintln!(
                "<== bench {} SKIPPED: {missing} (wire it in xtask/src/bench.rs)",
                bench.name
            );
            skipped.push(bench.name);
            continue;
        }
        if let Err(error) = run_one(bench, &postgres) {
            eprintln!("<== bench {} FAILED: {error:#}", bench.name);
            failures.push(bench.name);
        }
    }

    if !skipped.is_empty() {
        eprintln!("\nskipped (not written yet): {}", skipped.join(", "));
    }
    if !failures.is_empty() {
        bail!(
            "benchmarks failed or missed their goals: {}",
            failures.join(", ")
        );
    }
    Ok(())
}

fn run_one(bench: &Bench, postgres: &Postgres) -> Result<()> {
    let criterion_group = shell::target_dir().join("criterion").join(bench.name);
    let before = estimate_times(&criterion_group);

    let mut command = shell::cargo();
    command.args(bench.cargo_args);
    if bench.report == Report::Printed {
        postgres.apply(&mut command);
        eprintln!("{}", postgres.describe());
    }
    shell::run(&mut command)?;

    if bench.report == Report::SelectionTable {
        let rows = fresh_estimates(&criterion_group, &before)?;
        if rows.is_empty() {
            bail!(
                "criterion wrote no new estimates under {}; does the bench use the group name `{}`?",
                criterion_group.display(),
                bench.name
            );
        }
        let (table, passed) = selection_table(&rows);
        println!("\n{table}");
        if !passed {
            bail!("a selection median is over its goal");
        }
    }
    Ok(())
}

/// The modification time of every `<a>/<b>/new/estimates.json` under `group`.
fn estimate_times(group: &Path) -> BTreeMap<PathBuf, SystemTime> {
    estimate_files(group)
        .into_iter()
        .filter_map(|path| {
            let modified = std::fs::metadata(&path)
                .and_then(|meta| meta.modified())
                .ok()?;
            Some((path, modified))
        })
        .collect()
}

fn estimate_files(group: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let children = |dir: &Path| -> Vec<PathBuf> {
        std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .filter_map(|entry| Some(entry.ok()?.path()))
                    .filter(|path| path.is_dir())
                    .collect()
            })
            .unwrap_or_default()
    };
    for first in children(group) {
        for second in children(&first) {
            let estimates = second.join("new").join("estimates.json");
            if estimates.is_file() {
                files.push(estimates);
            }
        }
    }
    files.sort();
    files
}

/// One measured case: a strategy at a size, and its median in nanoseconds.
#[derive(Debug, PartialEq)]
struct Estimate {
    strategy: String,
    size: Option<u64>,
    label: String,
    median_ns: f64,
}

/// Estimates written by this run (new files, or files whose time changed).
fn fresh_estimates(group: &Path, before: &BTreeMap<PathBuf, SystemTime>) -> Result<Vec<Estimate>> {
    let mut estimates = Vec::new();
    for (path, modified) in estimate_times(group) {
        if before.get(&path) == Some(&modified) {
            continue;
        }
        let case = path
            .parent()
            .and_then(Path::parent)
            .context("estimates path too short")?;
        let first = case
            .parent()
            .and_then(Path::file_name)
            .map(|name| name.to_string_lossy().into_owned());
        let second = case
            .file_name()
            .map(|name| name.to_string_lossy().into_owned());
        let (Some(first), Some(second)) = (first, second) else {
            continue;
        };
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("could not read {}", path.display()))?;
        let json: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("could not parse {}", path.display()))?;
        let median_ns = json["median"]["point_estimate"]
            .as_f64()
            .with_context(|| format!("{} has no median point estimate", path.display()))?;
        estimates.push(Estimate::from_ids(&first, &second, median_ns));
    }
    Ok(estimates)
}

impl Estimate {
    /// Criterion ids are `<function>/<parameter>`; whichever part is a number is the size.
    fn from_ids(first: &str, second: &str, median_ns: f64) -> Self {
        let (strategy, size) = match (parse_size(second), parse_size(first)) {
            (Some(size), _) => (first, Some(size)),
            (None, Some(size)) => (second, Some(size)),
            (None, None) => (first, None),
        };
        let label = match size {
            Some(size) => size.to_string(),
            None => second.to_owned(),
        };
        Self {
            strategy: strategy.to_owned(),
            size,
            label,
            median_ns,
        }
    }
}

/// `10000`, `10_000`, `n=10000`, `subscriptions_10000` → 10000; `p95` → none.
fn parse_size(id: &str) -> Option<u64> {
    let prefix = id.trim_end_matches(|c: char| c.is_ascii_digit() || c == '_');
    let suffix = &id[prefix.len()..];
    let separated = prefix.is_empty() || prefix.ends_with(['=', '-']) || suffix.starts_with('_');
    let digits: String = suffix.chars().filter(char::is_ascii_digit).collect();
    if !separated || digits.is_empty() {
        return None;
    }
    digits.parse().ok()
}

/// The table of medians, and whether every goal was met.
fn selection_table(estimates: &[Estimate]) -> (String, bool) {
    let mut rows: Vec<&Estimate> = estimates.iter().collect();
    rows.sort_by(|a, b| (a.size, &a.label, &a.strategy).cmp(&(b.size, &b.label, &b.strategy)));
    let strategy_width = rows
        .iter()
        .map(|row| row.strategy.len())
        .max()
        .unwrap_or(0)
        .max("strategy".len());
    let baselines: BTreeMap<Option<u64>, f64> = rows
        .iter()
        .filter(|row| row.strategy == BASELINE)
        .map(|row| (row.size, row.median_ns))
        .collect();
    let mut table = format!(
        "selection (criterion median, cargo bench -p kage-domain --bench selection)\n{:>8}  {:<strategy_width$}  {:>10}  {:>20}  {:>10}  result\n",
        "size", "strategy", "median", "baseline (same run)", "goal"
    );
    let mut passed = true;
    for row in rows {
        let gated = !WITHOUT_GOAL.contains(&row.strategy.as_str());
        let goal = row.size.filter(|_| gated).and_then(|size| {
            SELECTION_GOALS
                .iter()
                .find(|(goal_size, _)| *goal_size == size)
        });
        let (goal_text, result) = match goal {
            Some((_, limit)) if row.median_ns < *limit => {
                (format!("< {}", format_ns(*limit)), "PASS")
            }
            Some((_, limit)) => {
                passed = false;
                (format!("< {}", format_ns(*limit)), "FAIL")
            }
            None => ("-".to_owned(), "-"),
        };
        let baseline = match baselines.get(&row.size) {
            Some(ns) if row.strategy != BASELINE => {
                format!("{} ({:.0}x)", format_ns(*ns), row.median_ns / ns.max(1e-3))
            }
            _ => "-".to_owned(),
        };
        table.push_str(&format!(
            "{:>8}  {:<strategy_width$}  {:>10}  {baseline:>20}  {:>10}  {result}\n",
            row.label,
            row.strategy,
            format_ns(row.median_ns),
            goal_text
        ));
    }
    (table, passed)
}

fn format_ns(ns: f64) -> String {
    if ns < 1_000.0 {
        format!("{ns:.0} ns")
    } else if ns < 1_000_000.0 {
        format!("{:.2} µs", ns / 1_000.0)
    } else {
        format!("{:.2} ms", ns / 1_000_000.0)
    }
}

/// Why `bench` cannot run yet, if its package or target is missing from the workspace.
fn missing_target(metadata: &serde_json::Value, bench: &Bench) -> Option<String> {
    let packages = metadata["packages"].as_array()?;
    let Some(package) = packages
        .iter()
        .find(|package| package["name"] == bench.package)
    else {
        return Some(format!("package {} does not exist", bench.package));
    };
    let (kind, name) = match bench.target {
        Target::Bench(name) => ("bench", name),
        Target::Bin(name) => ("bin", name),
    };
    let has_target = package["targets"].as_array().is_some_and(|targets| {
        targets.iter().any(|target| {
            target["name"] == name
                && target["kind"]
                    .as_array()
                    .is_some_and(|kinds| kinds.iter().any(|k| k == kind))
        })
    });
    (!has_target).then(|| format!("package {} has no {kind} target `{name}`", bench.package))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn estimate(strategy: &str, size: u64, median_ns: f64) -> Estimate {
        Estimate {
            strategy: strategy.into(),
            size: Some(size),
            label: size.to_string(),
            median_ns,
        }
    }

    #[test]
    fn sizes_are_found_in_either_id_part() {
        assert_eq!(
            Estimate::from_ids("best", "10000", 1.0),
            estimate("best", 10_000, 1.0)
        );
        assert_eq!(
            Estimate::from_ids("100", "best", 1.0),
            estimate("best", 100, 1.0)
        );
        assert_eq!(parse_size("10_000"), Some(10_000));
        assert_eq!(parse_size("n=100"), Some(100));
        assert_eq!(parse_size("subscriptions_100"), Some(100));
        assert_eq!(parse_size("p95"), None);
        assert_eq!(parse_size("best"), None);
    }

    #[test]
    fn goals_pass_and_fail() {
        let (table, passed) = selection_table(&[
            estimate("best", 100, 420.0),
            estimate("best", 10_000, 35_200.0),
        ]);
        assert!(passed, "{table}");
        assert!(table.contains("420 ns"), "{table}");
        assert!(table.contains("35.20 µs"), "{table}");

        let (table, passed) =
            selection_table(&[estimate("best", 100, 1_500.0), estimate("best", 1_000, 9e9)]);
        assert!(!passed, "{table}");
        assert_eq!(table.matches("FAIL").count(), 1, "{table}");

        let (table, passed) = selection_table(&[estimate("explain", 10_000, 2e6)]);
        assert!(passed, "explain has no goal:\n{table}");
    }

    #[test]
    fn every_row_shows_the_baseline_of_its_size() {
        let (table, passed) = selection_table(&[
            estimate("baseline", 100, 50.0),
            estimate("priority", 100, 400.0),
            estimate("baseline", 10_000, 5_000.0),
            estimate("priority", 10_000, 60_000.0),
        ]);
        assert!(passed, "{table}");
        let priority_100 = table
            .lines()
            .find(|line| line.contains("priority") && line.trim_start().starts_with("100 "))
            .expect("the priority row at 100");
        assert!(priority_100.contains("50 ns (8x)"), "{table}");
        let priority_10k = table
            .lines()
            .find(|line| line.contains("priority") && line.contains("10000"))
            .expect("the priority row at 10,000");
        assert!(priority_10k.contains("5.00 µs (12x)"), "{table}");
        let baseline = table
            .lines()
            .find(|line| line.contains("baseline") && line.contains("10000"))
            .expect("the baseline row");
        assert!(
            !baseline.contains("PASS") && !baseline.contains("FAIL"),
            "{table}"
        );
    }

    #[test]
    fn every_slot_names_its_package_in_the_command() {
        for bench in BENCHES {
            let package_arg = bench
                .cargo_args
                .windows(2)
                .any(|pair| pair == ["-p", bench.package]);
            assert!(
                package_arg,
                "bench {} must run with -p {}",
                bench.name, bench.package
            );
        }
    }

    #[test]
    fn missing_packages_and_targets_are_skipped() {
        let metadata = serde_json::json!({"packages": [
            {"name": "kage-domain", "targets": [{"name": "selection", "kind": ["bench"]}]},
            {"name": "kage-cli", "targets": [{"name": "kage", "kind": ["bin"]}]},
        ]});
        assert_eq!(missing_target(&metadata, &BENCHES[0]), None);
        assert!(
            missing_target(&metadata, &BENCHES[1])
                .unwrap()
                .contains("package kage-store-sql does not exist")
        );
        assert!(
            missing_target(&metadata, &BENCHES[2])
                .unwrap()
                .contains("no bench target `status`")
        );
    }

    #[test]
    fn every_listed_benchmark_exists_in_the_workspace() {
        let metadata = shell::workspace_metadata().unwrap();
        let missing: Vec<String> = BENCHES
            .iter()
            .filter_map(|bench| missing_target(&metadata, bench))
            .collect();
        assert!(
            missing.is_empty(),
            "edit BENCHES in xtask/src/bench.rs: {missing:?}"
        );
    }

    #[test]
    fn only_new_estimates_are_read() {
        let group = std::env::temp_dir().join(format!("xtask-bench-{}", std::process::id()));
        let write = |case: &str, median: f64| {
            let dir = group.join(case).join("new");
            std::fs::create_dir_all(&dir).unwrap();
            let json = serde_json::json!({"median": {"point_estimate": median}});
            std::fs::write(dir.join("estimates.json"), json.to_string()).unwrap();
        };
        write("best/100", 400.0);
        let before = estimate_times(&group);
        write("best/10000", 40_000.0);
        let fresh = fresh_estimates(&group, &before).unwrap();
        std::fs::remove_dir_all(&group).unwrap();
        assert_eq!(fresh, vec![estimate("best", 10_000, 40_000.0)]);
    }
}
