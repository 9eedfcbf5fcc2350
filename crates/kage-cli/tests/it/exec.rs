//! `kage exec`: one leased subscription for one command, through its
//! environment only.

use std::time::Duration;

use crate::env::{TestEnv, running};

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
fn no_other_subscriptions_credential_variable_reaches_the_child() {
    let mut env = TestEnv::new();
    env.set_env("TOK_A", "sk-ant-oat01-token-of-a");
    env.set_env("TOK_B", "sk-ant-oat01-token-of-b");
    env.set_env("UNRELATED", "kept");
    for (name, variable, priority) in [("a", "TOK_A", "200"), ("b", "TOK_B", "100")] {
        env.run(&[
            "subscription",
            "add",
            "--name",
            name,
            "--priority",
            priority,
            "--credential-env",
            variable,
        ])
        .success();
    }
    let run = env.run(&["exec", "--", "env"]).success();
    let credentials: Vec<&str> = run
        .stdout
        .lines()
        .filter(|line| line.contains("sk-ant-"))
        .collect();
    assert_eq!(
        credentials,
        ["CLAUDE_CODE_OAUTH_TOKEN=sk-ant-oat01-token-of-a"]
    );
    assert!(run.stdout.lines().any(|line| line == "UNRELATED=kept"));
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
    let script = format!("sleep 4; '{}' lease list --json", kage.display());
    let run = env
        .run(&["exec", "--ttl", "3s", "--", "sh", "-c", &script])
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

#[test]
fn kill_9_of_kage_exec_ends_its_child_within_a_second() {
    let env = TestEnv::new();
    env.add("personal", &[]);
    let mut kage = env
        .std_command(&[
            "exec",
            "--",
            "sh",
            "-c",
            "echo $$; while :; do sleep 0.1; done",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("kage starts");
    let stdout = kage.stdout.take().expect("stdout");
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line)
        .expect("the child started");
    let child: i32 = line.trim().parse().expect("the child's pid");
    assert!(running(child));
    kage.kill().expect("kill -9 kage");
    kage.wait().expect("kage ends");
    let deadline = std::time::Instant::now() + Duration::from_secs(1);
    while running(child) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let alive = running(child);
    if alive {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    assert!(!alive, "the child {child} outlived kage exec");
}

#[test]
fn a_lost_lease_is_regained_if_free_else_the_child_is_stopped() {
    let mut env = TestEnv::new();
    env.real_clock();
    env.add("solo", &["--max-concurrent", "1"]);
    let lease_of = |env: &TestEnv| -> String {
        let output = env
            .command(&["lease", "list", "--json"])
            .output()
            .expect("kage runs");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        crate::commands::document(&stdout)[0]["id"]
            .as_str()
            .expect("a lease")
            .to_owned()
    };
    let mut kage = env
        .std_command(&[
            "exec",
            "--ttl",
            "3s",
            "--",
            "sh",
            "-c",
            "echo started; exec sleep 30",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("kage starts");
    let stdout = kage.stdout.take().expect("stdout");
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line)
        .expect("the child started");

    // Released under it while the subscription stays free: regained.
    let first = lease_of(&env);
    env.run(&["lease", "release", &first]).success();
    std::thread::sleep(Duration::from_millis(2500));
    let second = lease_of(&env);
    assert_ne!(first, second, "a new lease was taken");
    assert!(
        kage.try_wait().expect("kage runs").is_none(),
        "kage went on"
    );

    // Released and taken by someone else: the child is stopped.
    env.run(&["lease", "release", &second]).success();
    let _thief = env.acquire(&["--ttl", "10m"]);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let status = loop {
        if let Some(status) = kage.try_wait().expect("kage runs") {
            break Some(status);
        }
        if std::time::Instant::now() > deadline {
            let _ = kage.kill();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut kage.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(status.is_some(), "kage exec kept running: {stderr}");
    assert!(
        stderr.contains("is no longer free; stopping `sh`"),
        "{stderr}"
    );
}
