//! `kage top` in a real terminal: a private tmux server, 80×24, driven with
//! send-keys and read with capture-pane. A pool of five subscriptions in
//! different states, three live leases and an agent waiting: every row, bar
//! and countdown shows; `d` and a reason disables one; `q` exits 0 and the
//! terminal is given back (main screen, cursor shown, cooked mode); SIGTERM
//! gives it back too.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::env::TestEnv;

/// A private tmux server running one command in an 80×24 window.
struct Tmux {
    socket: PathBuf,
}

impl Tmux {
    fn start(env: &TestEnv, shell_command: &str) -> Self {
        let socket = env.root().join("tmux.sock");
        let conf = env.root().join("tmux.conf");
        std::fs::write(
            &conf,
            "set -g remain-on-exit on\nset -g status off\nset -s escape-time 0\n",
        )
        .unwrap();
        let mut command = Command::new("tmux");
        command
            .env_clear()
            .envs(env.environment_vars())
            .env("TERM", "xterm-256color")
            .arg("-S")
            .arg(&socket)
            .arg("-f")
            .arg(&conf)
            .args(["new-session", "-d", "-s", "top", "-x", "80", "-y", "24"])
            .args(["sh", "-c", shell_command])
            .current_dir(env.root())
            .stdin(Stdio::null());
        let output = command.output().expect("tmux runs (apt-get install tmux)");
        assert!(
            output.status.success(),
            "tmux new-session failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        Self { socket }
    }

    fn tmux(&self, args: &[&str]) -> String {
        let output = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux runs");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// The visible screen.
    fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-t", "top"])
    }

    /// The visible screen with its colours and attributes as escapes.
    fn screen_with_escapes(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-e", "-t", "top"])
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "top"];
        args.extend_from_slice(keys);
        self.tmux(&args);
    }

    fn type_text(&self, text: &str) {
        self.tmux(&["send-keys", "-t", "top", "-l", text]);
    }

    fn display(&self, format: &str) -> String {
        self.tmux(&["display-message", "-p", "-t", "top", format])
            .trim()
            .to_owned()
    }

    fn wait_for(&self, what: &str, check: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let screen = self.screen();
            if check(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "the screen never showed {what}; it shows:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The pid of the `kage top` the pane's shell runs.
    fn kage_pid(&self) -> u32 {
        let shell = self.display("#{pane_pid}");
        let output = Command::new("ps")
            .args(["-o", "pid=", "--ppid", &shell])
            .output()
            .expect("ps runs");
        String::from_utf8_lossy(&output.stdout)
            .split_whitespace()
            .next()
            .and_then(|pid| pid.parse().ok())
            .expect("kage top runs under the pane's shell")
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .arg("kill-server")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// A waiting `kage lease acquire`, killed when dropped.
struct Waiting(Child);

impl Drop for Waiting {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn kage_path() -> PathBuf {
    assert_cmd::cargo::cargo_bin("kage")
}

fn status_of(env: &TestEnv, name: &str) -> serde_json::Value {
    let status = env.run(&["subscription", "status", "--json"]).success();
    crate::commands::document(&status.stdout)["subscriptions"]
        .as_array()
        .and_then(|rows| rows.iter().find(|row| row["name"] == name))
        .cloned()
        .unwrap_or_else(|| panic!("{name} in\n{}", status.stdout))
}

/// Lease `name` (by its own tag) for `holder`; the lease id.
fn lease(env: &TestEnv, name: &str, holder: &str) -> String {
    let output = env
        .std_command(&[
            "lease", "acquire", "--tags", name, "--holder", holder, "--ttl", "1h",
        ])
        .stdin(Stdio::null())
        .output()
        .expect("kage runs");
    assert!(
        output.status.success(),
        "acquire failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let mut words = stdout.split_whitespace();
    let id = words.next().expect("a lease id").to_owned();
    assert_eq!(words.next(), Some(name));
    id
}

/// The status line Claude Code would feed `name`'s lease: the 5-hour window
/// at `five` %, resetting in 2 hours.
#[allow(
    clippy::disallowed_methods,
    reason = "this pool runs on the real clock (a waiting acquire must really wait)"
)]
fn report_quota(env: &TestEnv, name: &str, lease: &str, five: u32) {
    let resets_at = jiff::Timestamp::now().as_second() + 2 * 3600;
    let input = format!(
        r#"{{"rate_limits":{{"five_hour":{{"used_percentage":{five},"resets_at":{resets_at}}}}}}}"#
    );
    let output = env
        .std_command(&["statusline"])
        .env("KAGE_SUBSCRIPTION", name)
        .env("KAGE_LEASE_ID", lease)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write as _;
            child.stdin.take().unwrap().write_all(input.as_bytes())?;
            child.wait_with_output()
        })
        .expect("kage statusline runs");
    assert!(output.status.success());
}

/// Five subscriptions (active with quota, active, exhausted, rate limited,
/// disabled), three live leases with holders, one agent waiting.
fn pool(env: &mut TestEnv) -> Waiting {
    env.real_clock();
    for (name, priority) in [
        ("work-premium", "200"),
        ("personal", "150"),
        ("team-a", "120"),
        ("batch-key", "90"),
        ("ci-key", "50"),
    ] {
        env.add(name, &["--priority", priority, "--tags", name]);
    }
    let work = lease(env, "work-premium", "kage-agent@build-1:4242 task-3");
    lease(env, "work-premium", "kage-agent@build-1:4242 task-4");
    let mine = lease(env, "personal", "kage-exec@laptop:77 claude");
    report_quota(env, "work-premium", &work, 83);
    report_quota(env, "personal", &mine, 42);
    let spent = lease(env, "team-a", "ci");
    env.run(&[
        "lease",
        "release",
        &spent,
        "--outcome",
        "exhausted",
        "--resets-at",
        "2h",
        "--reason",
        "5-hour limit reached",
    ])
    .success();
    let burst = lease(env, "batch-key", "ci");
    env.run(&[
        "lease",
        "release",
        &burst,
        "--outcome",
        "rate-limited",
        "--resets-at",
        "20m",
    ])
    .success();
    env.run(&[
        "subscription",
        "disable",
        "ci-key",
        "--reason",
        "card expired",
    ])
    .success();
    let child = env
        .std_command(&[
            "lease",
            "acquire",
            "--tags",
            "team-a",
            "--wait",
            "30m",
            "--holder",
            "kage-agent@build-2:999 task-9",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("kage lease acquire runs");
    Waiting(child)
}

fn top_command(env: &TestEnv) -> String {
    let _ = env;
    format!(
        "{} top; echo \"kage-top-exit=$?\"; stty -a | tr ' ;' '\\n\\n' | grep -x -e icanon -e -icanon -e echo -e -echo | tr '\\n' ' '; echo; sleep 60",
        shell_quote(&kage_path())
    )
}

fn shell_quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', "'\\''"))
}

#[test]
fn top_shows_the_pool_disables_with_a_reason_and_quits_cleanly() {
    let mut env = TestEnv::new();
    let _waiting = pool(&mut env);
    let tmux = Tmux::start(&env, &top_command(&env));

    let screen = tmux.wait_for("the pool with its waiting agent", |screen| {
        screen.contains("kage top") && screen.contains("1 waiting until")
    });
    assert_eq!(
        tmux.display("#{alternate_on}"),
        "1",
        "top runs on the alternate screen"
    );
    for name in ["work-premium", "personal", "team-a", "batch-key", "ci-key"] {
        assert!(screen.contains(name), "{name} missing:\n{screen}");
    }
    for state in ["active", "exhausted", "rate_ltd", "disabled"] {
        assert!(screen.contains(state), "{state} missing:\n{screen}");
    }
    assert!(screen.contains("5 subscriptions: 2 active"), "{screen}");
    assert!(screen.contains("3 live leases"), "{screen}");
    // A bar per known window, with its share and its reset countdown.
    let line = |name: &str| {
        screen
            .lines()
            .find(|line| line.chars().skip(2).collect::<String>().starts_with(name))
            .unwrap_or_else(|| panic!("no row for {name}:\n{screen}"))
            .to_owned()
    };
    let work = line("work-premium");
    assert!(
        work.contains("quota") && work.contains('█') && work.contains("83%"),
        "{work}"
    );
    assert!(work.contains(" 2 "), "two live leases: {work}");
    let personal = line("personal");
    assert!(
        personal.contains("42%") && personal.contains('█'),
        "{personal}"
    );
    let team = line("team-a");
    assert!(team.contains("limit") && team.contains("100%"), "{team}");
    assert!(team.contains("↻1h59m") || team.contains("↻2h"), "{team}");
    let batch = line("batch-key");
    assert!(
        batch.contains("100%") && (batch.contains("↻19m") || batch.contains("↻20m")),
        "{batch}"
    );
    assert!(line("ci-key").contains("no quota reported"));
    // Live leases with their holders: host, pid, task.
    for holder in [
        "build-1", "4242", "task-3", "task-4", "laptop", "77", "claude",
    ] {
        assert!(screen.contains(holder), "{holder} missing:\n{screen}");
    }
    assert!(screen.contains("task-9"), "the waiting agent: {screen}");
    // No background colour anywhere: it reads on light and dark terminals.
    let escapes = tmux.screen_with_escapes();
    for background in [
        "\u{1b}[40m",
        "\u{1b}[41m",
        "\u{1b}[42m",
        "\u{1b}[43m",
        "\u{1b}[44m",
        "\u{1b}[47m",
        "48;5;",
        "48;2;",
    ] {
        assert!(
            !escapes.contains(background),
            "a background colour {background:?}"
        );
    }
    assert!(
        escapes.contains("\u{1b}["),
        "colours and attributes are drawn"
    );

    // Help, and the routes.
    tmux.keys(&["?"]);
    tmux.wait_for("the help", |screen| {
        screen.contains("move between subscriptions")
    });
    tmux.keys(&["Escape"]);
    tmux.wait_for("the help closed", |screen| {
        !screen.contains("move between subscriptions")
    });
    tmux.keys(&["r"]);
    tmux.wait_for("the routes", |screen| screen.contains("no routes"));
    tmux.keys(&["Escape"]);
    tmux.wait_for("the routes closed", |screen| !screen.contains("no routes"));

    // Select `personal` (second row) and disable it with a reason.
    tmux.keys(&["Down"]);
    tmux.wait_for("personal selected", |screen| screen.contains("▶ personal"));
    tmux.keys(&["d"]);
    tmux.wait_for("the reason prompt", |screen| {
        screen.contains("disable personal, reason:")
    });
    tmux.type_text("maintenance window");
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for("the confirmation", |screen| {
        screen.contains("disabled personal: maintenance window")
    });
    assert!(
        screen.contains("3 disabled") || screen.contains("2 disabled"),
        "{screen}"
    );
    let status = status_of(&env, "personal");
    assert_eq!(status["state"], "disabled", "{status}");
    assert_eq!(status["reason"], "maintenance window");

    // And enable it again with `e`.
    tmux.keys(&["e"]);
    tmux.wait_for("the enable prompt", |screen| {
        screen.contains("enable personal?")
    });
    tmux.keys(&["Enter"]);
    tmux.wait_for("enabled", |screen| screen.contains("enabled personal"));
    assert_eq!(status_of(&env, "personal")["state"], "active");

    // `q` quits with 0 and gives the terminal back.
    tmux.keys(&["q"]);
    let screen = tmux.wait_for("the exit status and the terminal modes", |screen| {
        screen.contains("kage-top-exit=") && screen.contains("icanon")
    });
    assert!(screen.contains("kage-top-exit=0"), "{screen}");
    assert!(
        !screen.contains("kage top ·"),
        "the main screen is back:\n{screen}"
    );
    let modes = screen
        .lines()
        .find(|line| line.contains("icanon"))
        .unwrap_or_default();
    assert!(
        modes.contains("icanon") && !modes.contains("-icanon"),
        "cooked mode: {modes}"
    );
    assert!(
        modes.contains("echo") && !modes.contains("-echo"),
        "echo on: {modes}"
    );
    assert_eq!(tmux.display("#{alternate_on}"), "0");
    assert_eq!(tmux.display("#{cursor_flag}"), "1", "the cursor is shown");
}

#[test]
fn sigterm_gives_the_terminal_back() {
    let env = TestEnv::new();
    env.add("work-premium", &[]);
    let tmux = Tmux::start(&env, &top_command(&env));
    tmux.wait_for("kage top", |screen| screen.contains("kage top"));
    let pid = tmux.kage_pid();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(pid).unwrap()),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let screen = tmux.wait_for("the exit status and the terminal modes", |screen| {
        screen.contains("kage-top-exit=") && screen.contains("icanon")
    });
    assert!(screen.contains("kage-top-exit=130"), "{screen}");
    let modes = screen
        .lines()
        .find(|line| line.contains("icanon"))
        .unwrap_or_default();
    assert!(
        !modes.contains("-icanon") && !modes.contains("-echo"),
        "{modes}"
    );
    assert_eq!(tmux.display("#{alternate_on}"), "0");
    assert_eq!(tmux.display("#{cursor_flag}"), "1");
}

#[test]
fn once_prints_one_frame_without_a_terminal() {
    let mut env = TestEnv::new();
    env.add("work-premium", &["--priority", "200"]);
    env.add("personal", &[]);
    env.run(&[
        "subscription",
        "disable",
        "personal",
        "--reason",
        "on leave",
    ])
    .success();
    env.set_env("COLUMNS", "80");
    env.set_env("LINES", "12");
    let run = env.run(&["top", "--once"]).success();
    insta::assert_snapshot!("top_once_80x12", run.stdout);
    assert_eq!(run.stdout.lines().count(), 12);
    assert!(run.stdout.lines().all(|line| line.chars().count() <= 80));

    let refused = env.run(&["top"]);
    assert_ne!(refused.code, 0);
    assert!(
        refused.stderr.contains("kage top --once"),
        "{}",
        refused.stderr
    );
}

/// A database of its own on the PostgreSQL server of `KAGE_TEST_DB_URL`,
/// dropped when the test ends.
struct PgDatabase {
    admin_url: String,
    name: String,
    url: String,
}

fn block_on<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

impl PgDatabase {
    /// On the server `kage_testkit` finds; `None` (after a loud SKIPPED
    /// banner) without one, a failure instead under `KAGE_REQUIRE_POSTGRES=1`.
    fn create(test: &str) -> Option<Self> {
        use sqlx::{Connection as _, Executor as _};
        let admin_url = kage_testkit::postgres_url(test)?;
        let name = format!("kage_top_{}", uuid::Uuid::new_v4().simple());
        block_on(async {
            let mut admin = sqlx::PgConnection::connect(&admin_url).await.unwrap();
            admin
                .execute(format!("CREATE DATABASE \"{name}\"").as_str())
                .await
                .unwrap();
            admin.close().await.unwrap();
        });
        let base = admin_url.split('?').next().unwrap_or(&admin_url);
        let base = &base[..base.rfind('/').unwrap_or(base.len())];
        let url = format!("{base}/{name}");
        Some(Self {
            admin_url,
            name,
            url,
        })
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        use sqlx::{Connection as _, Executor as _};
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            block_on(async {
                if let Ok(mut admin) = sqlx::PgConnection::connect(&admin_url).await {
                    let _ = admin
                        .execute(
                            format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)").as_str(),
                        )
                        .await;
                    let _ = admin.close().await;
                }
            });
        })
        .join();
    }
}

#[test]
fn top_reads_a_shared_postgres_pool_as_it_reads_sqlite() {
    let Some(database) = PgDatabase::create("top_reads_a_shared_postgres_pool_as_it_reads_sqlite")
    else {
        return;
    };
    let mut env = TestEnv::new();
    env.set_env("KAGE_DATABASE_URL", &database.url);
    let _waiting = pool(&mut env);
    // The waiting acquire saves itself before it sleeps.
    let deadline = Instant::now() + Duration::from_secs(30);
    let frame = loop {
        env.set_env("COLUMNS", "80");
        env.set_env("LINES", "24");
        let frame = env.run(&["top", "--once"]).success().stdout;
        if frame.contains("1 waiting until") || Instant::now() > deadline {
            break frame;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    for expected in [
        "work-premium",
        "personal",
        "team-a",
        "batch-key",
        "ci-key",
        "exhausted",
        "rate_ltd",
        "disabled",
        "3 live leases",
        "1 waiting until",
        "83%",
        "42%",
        "task-3",
        "build-1",
        "work-premium passed 80% of its 5-hour quota (83% used)",
    ] {
        assert!(frame.contains(expected), "{expected} missing:\n{frame}");
    }
    assert_eq!(frame.lines().count(), 24);
}
