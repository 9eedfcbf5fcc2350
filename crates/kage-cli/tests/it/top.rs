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

/// The real time, to the second (the pool runs on the real clock: a
/// waiting acquire must really wait).
#[allow(
    clippy::disallowed_methods,
    reason = "this pool runs on the real clock (a waiting acquire must really wait)"
)]
fn real_now() -> jiff::Timestamp {
    jiff::Timestamp::now()
}

/// `now` plus `seconds`, whole seconds (as Unix seconds carry them).
fn later(now: jiff::Timestamp, seconds: i64) -> jiff::Timestamp {
    jiff::Timestamp::from_second(now.as_second() + seconds).unwrap()
}

/// One quota bar `kage top` must draw: the subscription, the window's
/// label on screen, its share and when it resets.
#[derive(Debug)]
struct ExpectedBar {
    name: &'static str,
    label: &'static str,
    percent: u32,
    resets_at: jiff::Timestamp,
}

/// The status line Claude Code would feed `name`'s lease: each window
/// (`five_hour`, `seven_day`) at its percentage, resetting at its time.
fn report_quota(env: &TestEnv, name: &str, lease: &str, windows: &[(&str, u32, jiff::Timestamp)]) {
    let windows: Vec<String> = windows
        .iter()
        .map(|(window, percent, resets_at)| {
            format!(
                r#""{window}":{{"used_percentage":{percent},"resets_at":{}}}"#,
                resets_at.as_second()
            )
        })
        .collect();
    let input = format!(r#"{{"rate_limits":{{{}}}}}"#, windows.join(","));
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

/// The pool `kage top` shows, the waiting acquire (killed when dropped) and
/// every quota bar with its reset.
struct Pool {
    _waiting: Waiting,
    bars: Vec<ExpectedBar>,
}

/// Five subscriptions (active with 5-hour, 7-day and Opus windows, active
/// with 5-hour and 7-day windows, exhausted, rate limited, disabled),
/// three live leases with holders, one agent waiting.
fn pool(env: &mut TestEnv) -> Pool {
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
    let now = real_now();
    let bar = |name, label, percent, seconds| ExpectedBar {
        name,
        label,
        percent,
        resets_at: later(now, seconds),
    };
    let bars = vec![
        bar("work-premium", "5h", 83, 2 * 3600 + 30 * 60),
        bar("work-premium", "7d", 35, 3 * 86_400 + 12 * 3600),
        bar("work-premium", "7d opus", 100, 4 * 86_400 + 5 * 3600),
        bar("personal", "5h", 42, 3600 + 10 * 60),
        bar("personal", "7d", 18, 5 * 86_400 + 7 * 3600),
        bar("team-a", "limit", 100, 2 * 3600),
        bar("batch-key", "limit", 100, 20 * 60),
    ];
    let reset = |name: &str, label: &str| {
        bars.iter()
            .find(|bar| bar.name == name && bar.label == label)
            .map(|bar| bar.resets_at)
            .unwrap()
    };
    let work = lease(env, "work-premium", "kage-agent@build-1:4242 task-3");
    lease(env, "work-premium", "kage-agent@build-1:4242 task-4");
    let mine = lease(env, "personal", "kage-exec@laptop:77 claude");
    report_quota(
        env,
        "work-premium",
        &work,
        &[
            ("five_hour", 83, reset("work-premium", "5h")),
            ("seven_day", 35, reset("work-premium", "7d")),
        ],
    );
    report_quota(
        env,
        "personal",
        &mine,
        &[
            ("five_hour", 42, reset("personal", "5h")),
            ("seven_day", 18, reset("personal", "7d")),
        ],
    );
    // work-premium's weekly Opus window ran out (rateLimitType
    // seven_day_opus): limited for Opus only, still active.
    let opus = lease(env, "work-premium", "ci");
    env.run(&[
        "lease",
        "release",
        &opus,
        "--outcome",
        "exhausted",
        "--window",
        "seven_day_opus",
        "--resets-at",
        &reset("work-premium", "7d opus").as_second().to_string(),
    ])
    .success();
    let spent = lease(env, "team-a", "ci");
    env.run(&[
        "lease",
        "release",
        &spent,
        "--outcome",
        "exhausted",
        "--resets-at",
        &reset("team-a", "limit").as_second().to_string(),
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
        &reset("batch-key", "limit").as_second().to_string(),
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
    Pool {
        _waiting: Waiting(child),
        bars,
    }
}

/// One quota bar as drawn: the window's label, whether the bar itself is
/// there, the share and the reset countdown (`↻2h13m`), if any.
#[derive(Debug)]
struct DrawnBar {
    label: String,
    bar: String,
    percent: String,
    countdown: Option<String>,
}

const LABELS: [&str; 6] = ["7d sonnet", "7d opus", "limit", "quota", "5h", "7d"];

/// The quota bars of `name`'s row: its first line and the lines under it
/// that carry only another window.
fn drawn_bars(screen: &str, name: &str) -> Vec<DrawnBar> {
    let mut lines = screen.lines().skip_while(|line| {
        !line
            .chars()
            .skip(2)
            .collect::<String>()
            .starts_with(&format!("{name} "))
    });
    let Some(first) = lines.next() else {
        panic!("no row for {name}:\n{screen}");
    };
    let indent = " ".repeat(2 + 12);
    std::iter::once(first)
        .chain(lines.take_while(|line| line.starts_with(&indent) && !line.trim().is_empty()))
        .filter_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            let at = words
                .iter()
                .position(|word| word.chars().all(|c| "█▉▊▋▌▍▎▏░".contains(c)))?;
            let before = words[..at].join(" ");
            let label = LABELS
                .iter()
                .find(|label| before == **label || before.ends_with(&format!(" {label}")))?;
            Some(DrawnBar {
                label: (*label).to_owned(),
                bar: words[at].to_owned(),
                percent: words.get(at + 1).copied().unwrap_or_default().to_owned(),
                countdown: words
                    .get(at + 2)
                    .filter(|word| word.starts_with('↻'))
                    .map(|word| (*word).to_owned()),
            })
        })
        .collect()
}

/// `↻2h13m` → (2 h 13 min in seconds, the unit of its last figure: 60 s).
fn countdown_seconds(countdown: &str) -> Option<(i64, i64)> {
    let text = countdown.strip_prefix('↻')?;
    let (mut total, mut unit, mut number) = (0, 0, String::new());
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let seconds = match c {
            'd' => 86_400,
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return None,
        };
        total += number.parse::<i64>().ok()? * seconds;
        unit = seconds;
        number.clear();
    }
    (number.is_empty() && unit > 0).then_some((total, unit))
}

/// Every bar of the pool is drawn with its share and a countdown to its
/// reset that agrees with the reset time (the screen was drawn at most a
/// couple of seconds before `captured`; the countdown is cut down to its
/// last unit: `↻3d11h` for 3 days 11 hours 59 minutes).
fn assert_bars(screen: &str, bars: &[ExpectedBar], captured: jiff::Timestamp) {
    for expected in bars {
        let drawn = drawn_bars(screen, expected.name);
        let bar = drawn
            .iter()
            .find(|bar| bar.label == expected.label)
            .unwrap_or_else(|| {
                panic!(
                    "no {} bar for {}: {drawn:?}\n{screen}",
                    expected.label, expected.name
                )
            });
        assert_eq!(bar.percent, format!("{}%", expected.percent), "{bar:?}");
        assert!(bar.bar.contains('█'), "a filled bar: {bar:?}");
        let countdown = bar.countdown.as_deref().unwrap_or_else(|| {
            panic!(
                "no reset countdown on {}'s {} bar: {bar:?}\n{screen}",
                expected.name, expected.label
            )
        });
        let (shown, unit) =
            countdown_seconds(countdown).unwrap_or_else(|| panic!("not a countdown: {countdown}"));
        let left = expected.resets_at.as_second() - captured.as_second();
        assert!(
            shown <= left + 3 && left <= shown + unit,
            "{}'s {} bar counts down {countdown} ({shown} s), but it resets in {left} s",
            expected.name,
            expected.label
        );
    }
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
    let pool = pool(&mut env);
    let tmux = Tmux::start(&env, &top_command(&env));

    let screen = tmux.wait_for("the pool with its waiting agent", |screen| {
        screen.contains("kage top") && screen.contains("1 waiting until")
    });
    let captured = real_now();
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
    // A bar per known window (5-hour, 7-day, the Opus limit, the limits of
    // the exhausted and the rate-limited one), with its share and its reset
    // countdown.
    assert_bars(&screen, &pool.bars, captured);
    for (name, windows) in [
        ("work-premium", 3),
        ("personal", 2),
        ("team-a", 1),
        ("batch-key", 1),
        ("ci-key", 0),
    ] {
        assert_eq!(
            drawn_bars(&screen, name).len(),
            windows,
            "{name}'s bars:\n{screen}"
        );
    }
    let line = |name: &str| {
        screen
            .lines()
            .find(|line| line.chars().skip(2).collect::<String>().starts_with(name))
            .unwrap_or_else(|| panic!("no row for {name}:\n{screen}"))
            .to_owned()
    };
    assert!(
        line("work-premium").contains(" 2 "),
        "two live leases: {screen}"
    );
    assert!(line("team-a").contains("limit"), "{screen}");
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
    let _pool = pool(&mut env);
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
