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
