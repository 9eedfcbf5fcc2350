//! `kage exec`: one leased subscription for one command, through its
//! environment only.

use std::time::Duration;

use crate::env::TestEnv;

const SHOW_ENV: &str = "printf '%s|%s|%s|%s|%s\\n' \"$CLAUDE_CODE_OAUTH_TOKEN\" \"${ANTHROPIC_API_KEY-unset}\" \"${ANTHROPIC_AUTH_TOKEN-unset}\" \"$KAGE_SUBSCRIPTION\" \"${#KAGE_LEASE_ID}\"";

#[test]
fn the_child_gets_exactly_one_credential_and_the_markers() {
    let mut env = TestEnv::new();
    env.add("personal", &[]);
    env.set_env("ANTHROPIC_API_KEY", "sk-ant-api03-from-the-parent");
    env.set_env("ANTHROPIC_AUTH_TOKEN", "some-other-token");
    let run = env.run(&["exec", "--", "sh", "-c", SHOW_ENV]).success();
    assert_eq!(
        run.stdout,
        "sk-ant-oat01-personal-secret|unset|unset|personal|36\n"
    );
    assert_eq!(
        run.stderr,
        "kage: leased personal for `sh` (lease [UUID])\n"
    );
    // Released on exit, with success: no lease left, still active.
    let leases = env.run(&["lease", "list", "--json"]).success();
    assert_eq!(leases.stdout, "[]\n");
}

#[test]
fn an_api_key_goes_in_anthropic_api_key() {
    let mut env = TestEnv::new();
    env.run_with_stdin(
        &[
            "subscription",
            "add",
            "--name",
            "key",
            "--kind",
            "api-key",
            "--credential-stdin",
        ],
        "sk-ant-api03-the-key\n",
    )
    .success();
    env.set_env("CLAUDE_CODE_OAUTH_TOKEN", "sk-ant-oat01-stale");
    let run = env.run(&["exec", "--", "sh", "-c", SHOW_ENV]).success();
    assert_eq!(run.stdout, "|sk-ant-api03-the-key|unset|key|36\n");
}

#[test]
fn the_exit_code_is_the_childs_and_failures_do_not_mark_the_subscription() {
    let env = TestEnv::new();
    env.add("personal", &[]);
    let run = env
        .run(&["exec", "--namespace", "backend", "--", "sh", "-c", "exit 7"])
        .code(7);
    assert!(run.stdout.is_empty());
    let status = env.run(&["subscription", "status", "--json"]).success();
    assert!(
        status.stdout.contains("\"state\": \"active\""),
        "{}",
        status.stdout
    );
    let missing = env
        .run(&["exec", "--", "no-such-program-kage-test"])
        .code(127);
    assert!(
        missing
            .stderr
            .contains("could not run `no-such-program-kage-test`"),
        "{}",
        missing.stderr
    );
    let leases = env.run(&["lease", "list", "--json"]).success();
    assert_eq!(leases.stdout, "[]\n");
}

#[test]
fn nesting_is_refused_unless_asked() {
    let mut env = TestEnv::new();
    env.add("personal", &[]);
    env.set_env("KAGE_SUBSCRIPTION", "outer");
    let refused = env.run(&["exec", "--", "true"]).code(2);
    assert_eq!(
        refused.stderr,
        "kage: this shell already runs under a Kage lease on outer (KAGE_SUBSCRIPTION is set); pass --nested to lease another subscription anyway\n"
    );
    let nested = env
        .run(&[
            "exec",
            "--nested",
            "--",
            "sh",
            "-c",
            "echo $KAGE_SUBSCRIPTION",
        ])
        .success();
    assert_eq!(nested.stdout, "personal\n");
}

#[test]
fn nothing_available_exits_75() {
    let env = TestEnv::new();
    env.add("personal", &[]);
    env.run(&["subscription", "disable", "personal"]).success();
    let run = env.run(&["exec", "--", "true"]).code(75);
    assert!(
        run.stderr
            .contains("every subscription is limited, busy or disabled"),
        "{}",
        run.stderr
    );
}

#[test]
fn the_lease_is_heartbeaten_while_the_child_runs() {
    let mut env = TestEnv::new();
    env.real_clock();
    env.add("personal", &[]);
    let kage = assert_cmd::cargo::cargo_bin("kage");
    // The child lists the leases after twice the TTL: the lease is alive
    // only if kage heartbeat it meanwhile.
    let script = format!("sleep 2; '{}' lease list --json", kage.display());
    let run = env
        .run(&["exec", "--ttl", "1s", "--", "sh", "-c", &script])
        .success();
    assert!(
        run.stdout.contains("\"subscription\": \"personal\""),
        "{}",
        run.both()
    );
}

#[test]
fn sigterm_is_forwarded_to_the_child() {
    let env = TestEnv::new();
    env.add("personal", &[]);
    let mut child = env
        .std_command(&[
            "exec",
            "--",
            "sh",
            "-c",
            "trap 'echo got-term; exit 3' TERM; echo started; while :; do sleep 0.1; done",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("kage starts");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut first = [0u8; 8];
    std::io::Read::read_exact(&mut stdout, &mut first).expect("the child started");
    assert_eq!(&first, b"started\n");
    std::thread::sleep(Duration::from_millis(200));
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid"));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("signal kage");
    let status = child.wait().expect("kage ends");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).expect("output");
    assert_eq!(rest, "got-term\n");
    assert_eq!(status.code(), Some(3));
    let leases = env.run(&["lease", "list", "--json"]).success();
    assert_eq!(leases.stdout, "[]\n");
}
