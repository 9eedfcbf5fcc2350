//! `--help` snapshots: the top level, every group and every subscription
//! subcommand, so a change to the command line shows up in review.

use insta::assert_snapshot;

use crate::env::TestEnv;

#[test]
fn top_level_help() {
    let env = TestEnv::new();
    let help = env.run(&["--help"]).success();
    assert_snapshot!("help_kage", help.both());
    // `-h` is the short form; `kage` alone shows usage and exits 2.
    let short = env.run(&["-h"]).success();
    assert!(short.stdout.contains("Usage: kage [OPTIONS] <COMMAND>"));
    let bare = env.run(&[]).code(2);
    assert!(
        bare.stderr.contains("Usage: kage [OPTIONS] <COMMAND>"),
        "{}",
        bare.stderr
    );
}

#[test]
fn subscription_help_and_every_subcommand() {
    let env = TestEnv::new();
    let group = env.run(&["subscription", "--help"]).success();
    assert_snapshot!("help_subscription", group.both());
    // `kage sub` is the same command.
    let alias = env.run(&["sub", "--help"]).success();
    assert_eq!(alias.stdout, group.stdout);
    for subcommand in [
        "add", "list", "show", "edit", "remove", "enable", "disable", "route", "unroute", "routes",
        "explain", "status", "usage",
    ] {
        let help = env.run(&["subscription", subcommand, "--help"]).success();
        assert_snapshot!(format!("help_subscription_{subcommand}"), help.both());
    }
}

#[test]
fn lease_config_exec_and_metrics_help() {
    let env = TestEnv::new();
    for args in [
        &["lease", "--help"][..],
        &["lease", "acquire", "--help"],
        &["lease", "release", "--help"],
        &["exec", "--help"],
        &["claude", "--help"],
        &["statusline", "--help"],
        &["config", "--help"],
        &["metrics", "--help"],
        &["top", "--help"],
    ] {
        let help = env.run(args).success();
        assert_snapshot!(
            format!("help_{}", args[..args.len() - 1].join("_")),
            help.both()
        );
    }
}

#[test]
fn version_prints_the_package_version() {
    let env = TestEnv::new();
    let version = env.run(&["--version"]).success();
    assert_eq!(
        version.stdout,
        format!("kage {}\n", env!("CARGO_PKG_VERSION"))
    );
}

/// Every command with options of its own (global ones aside), and every
/// group, shows an `Examples:` block in `--help`.
#[test]
fn every_command_with_options_has_examples() {
    fn walk(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
        let path = format!("{path} {}", command.get_name());
        let own_options = command.get_arguments().any(|arg| {
            !arg.is_global_set() && !matches!(arg.get_id().as_str(), "help" | "version")
        });
        let is_group = command.has_subcommands();
        if !command.is_hide_set() && (own_options || is_group) {
            let help = command
                .get_after_help()
                .map(ToString::to_string)
                .unwrap_or_default();
            if !help.contains("Examples:") {
                missing.push(path.trim().to_owned());
            }
        }
        for sub in command.get_subcommands() {
            walk(sub, &path, missing);
        }
    }
    let mut missing = Vec::new();
    let mut command = kage_cli::clap_command();
    command.build();
    walk(&command, "", &mut missing);
    assert!(
        missing.is_empty(),
        "no Examples: block in --help of {missing:?}"
    );
}
