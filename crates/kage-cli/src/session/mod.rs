//! An interactive Claude Code session on the pool (`kage claude`, and
//! `kage exec -- claude`): the lease of `kage exec`, plus
//!
//! - the status line (`kage statusline`) installed for this session only,
//!   through `--settings '<json>'`, in front of the user's own;
//! - the usage of every assistant message written to the transcripts of the
//!   sessions this Claude Code created or resumed, recorded on the lease as
//!   it lands (keyed, so `kage usage import` of the same transcripts never
//!   counts it twice), with how far each transcript is read. Those sessions
//!   are the one Kage names with `--session-id` when the user's arguments
//!   pick none, the one `--resume ID` / `--session-id ID` names, and every
//!   one the status line reports (`--continue`, `--fork-session`, `/clear`,
//!   `/resume`); other sessions in the same project folder (another
//!   terminal's, a plain `claude`) are not read;
//! - a watch on those transcripts and the status line for a limit; then
//!   the subscription is marked as the classifier says, Claude Code is
//!   stopped (SIGTERM, then SIGKILL after a grace period) and the terminal
//!   put back, and `claude --resume SESSION_ID` starts on the next
//!   subscription with the user's other arguments and the interrupted
//!   prompt (`arguments`), in the same terminal.
//!
//! Claude Code keeps the terminal (stdin, stdout and stderr are inherited)
//! and talks to Anthropic itself: Kage reads only the files Claude Code
//! writes, never its traffic (`docs/decisions.md`).

pub(crate) mod arguments;
pub(crate) mod settings;
pub(crate) mod status_input;
pub(crate) mod terminal;

use std::cell::Cell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use kage_claude_code::{MessageUsage, TranscriptReader, limit_in_line, typed_prompt};
use kage_core::ReleaseRequest;
use kage_domain::signal::{ClassifyContext, describe_time};
use kage_domain::{ErrorKind, ModelFamily, Outcome, SubscriptionName, Usage};
use kage_ports::{
    ExposeSecret, KeyedUsage, Lease, LeaseError, ReadOffset, SecretString, UsageBatch,
};
use nix::sys::signal::Signal;
use tokio::process::Child;
use tokio::signal::unix::{SignalKind, signal};

use crate::command::exec::{LeaseOptions, exit_code, forward, regain, release};
use crate::command::{Context, Opened, lease};
use crate::output::Printer;
use kage_app::exit::Interrupted;
use kage_app::pool::AppPool;
use status_input::StatusInput;
use terminal::SavedTerminal;

/// How often the transcript and the status-line report are looked at.
const WATCH_PERIOD: Duration = Duration::from_millis(50);
/// How long Claude Code gets to exit after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(3);
/// How long a failover waits for a subscription when `--wait` is not given:
/// long enough for a weekly window to reset.
const FAILOVER_MAX_WAIT: Duration = Duration::from_secs(8 * 24 * 3600);

/// Whether a command is Claude Code (`claude`, or a path ending in it).
pub(crate) fn is_claude(program: &OsStr) -> bool {
    Path::new(program)
        .file_name()
        .is_some_and(|name| name == "claude")
}

/// A limit seen while the session ran.
#[derive(Clone, Debug)]
struct Limit {
    session_id: String,
    outcome: Outcome,
    /// The prompt of the turn the limit interrupted, when the transcript
    /// shows one (a limit seen only on the status line re-sends nothing).
    prompt: Option<String>,
}

/// Watches one running child's transcripts and status-line report.
struct Watch {
    /// The transcripts of the sessions that joined ([`Self::join`]).
    feed: Option<TranscriptReader>,
    report: PathBuf,
    report_seen: Option<SystemTime>,
    /// The status line's latest report, not looked at for a limit yet.
    reported: Option<StatusInput>,
    last_prompt: HashMap<String, String>,
    /// The limit lines already acted on (by `uuid`): a resumed session may
    /// copy its history, the old limit with it, into a new transcript.
    handled: HashSet<String>,
    /// The session the running Claude Code last wrote to (transcript or
    /// status line): what a failover after a lost lease resumes.
    session_id: Option<String>,
    /// Usage read from the transcripts and not recorded yet.
    usage: Vec<MessageUsage>,
    /// How far the transcripts are read, saved with that usage.
    offsets: BTreeMap<PathBuf, u64>,
}

impl Watch {
    fn new(feed: Option<TranscriptReader>, report: PathBuf) -> Self {
        Self {
            feed,
            report,
            report_seen: None,
            reported: None,
            last_prompt: HashMap::new(),
            handled: HashSet::new(),
            session_id: None,
            usage: Vec::new(),
            offsets: BTreeMap::new(),
        }
    }

    /// Read `session_id`'s transcripts from now on: a session this child
    /// writes to.
    fn join(&mut self, session_id: &str) {
        if let Some(feed) = &mut self.feed
            && feed.add_session(session_id)
        {
            tracing::debug!(session_id, "reading the session's transcripts");
        }
    }

    /// The status line's report, when it changed since the last look: the
    /// session it names joins (with what it wrote during this lease), and
    /// the report is kept for [`Self::status_line_limit`].
    fn read_report(&mut self) {
        let Ok(modified) = std::fs::metadata(&self.report).and_then(|metadata| metadata.modified())
        else {
            return;
        };
        if self.report_seen == Some(modified) {
            return;
        }
        self.report_seen = Some(modified);
        let Some(input) = std::fs::read_to_string(&self.report)
            .ok()
            .and_then(|text| StatusInput::parse(&text).ok())
        else {
            return;
        };
        if let Some(session_id) = &input.session_id {
            self.join(session_id);
            self.session_id = Some(session_id.clone());
        }
        self.reported = Some(input);
    }

    /// The transcripts' new lines; their usage is kept to record.
    fn poll(&mut self) -> Vec<kage_claude_code::TranscriptLine> {
        let Some(feed) = self.feed.as_mut() else {
            return Vec::new();
        };
        match feed.poll() {
            Ok(poll) => {
                self.usage.extend(poll.usage);
                self.offsets.extend(feed.offsets());
                poll.lines
            }
            Err(error) => {
                tracing::debug!("could not read the transcripts: {error}");
                Vec::new()
            }
        }
    }

    /// Read what the transcripts hold now, for its usage only (the child
    /// has ended); a session the status line named last joins first.
    fn drain(&mut self) {
        self.read_report();
        self.poll();
    }

    fn reset(&mut self) {
        if let Some(feed) = &mut self.feed
            && let Err(error) = feed.skip_existing()
        {
            tracing::debug!("could not read the transcript folder: {error}");
        }
        let _ = std::fs::remove_file(&self.report);
        self.report_seen = None;
        self.reported = None;
        self.session_id = None;
    }

    /// The first limit among what was written since the last look.
    fn look(&mut self, context: &ClassifyContext) -> Option<Limit> {
        self.read_report();
        for line in self.poll() {
            self.session_id = Some(line.session_id.clone());
            if let Some(prompt) = typed_prompt(&line.value) {
                self.last_prompt.insert(line.session_id.clone(), prompt);
            } else if let Some(outcome) = limit_in_line(&line.value, context) {
                if let Some(uuid) = line.value.get("uuid").and_then(serde_json::Value::as_str)
                    && !self.handled.insert(uuid.to_owned())
                {
                    continue;
                }
                let prompt = self.last_prompt.get(&line.session_id).cloned();
                return Some(Limit {
                    session_id: line.session_id,
                    outcome,
                    prompt,
                });
            }
        }
        self.status_line_limit(context)
    }

    /// A window the status line's latest report shows as spent (100 %).
    fn status_line_limit(&mut self, context: &ClassifyContext) -> Option<Limit> {
        let input = self.reported.take()?;
        let session_id = input.session_id.clone()?;
        let (name, window) = [
            ("5-hour limit", &input.five_hour),
            ("weekly limit", &input.seven_day),
        ]
        .into_iter()
        .find_map(|(name, window)| window.as_ref().filter(|w| w.is_spent()).map(|w| (name, w)))?;
        let reason = match window.resets_at {
            Some(at) => format!("{name}, resets {}", describe_time(at, context)),
            None => name.to_owned(),
        };
        Some(Limit {
            session_id,
            outcome: Outcome::QuotaExhausted {
                resets_at: window.resets_at,
                reason,
            },
            prompt: None,
        })
    }
}

/// How one child's run ended.
enum End {
    Exited(std::io::Result<ExitStatus>),
    Limit(Limit),
    /// The lease was lost (expired, released, deleted, or its subscription
    /// removed from the pool) and the subscription cannot be leased again
    /// (taken by someone else, or removed): Claude Code must not go on with
    /// its credential.
    Lost {
        error: LeaseError,
        session_id: Option<String>,
    },
}

/// `NAME hit its 5-hour limit, resets 03:04`, or the reason as it is.
fn why(name: &SubscriptionName, outcome: &Outcome) -> String {
    match outcome {
        Outcome::QuotaExhausted { reason, .. } | Outcome::ModelLimitReached { reason, .. }
            if reason.contains("limit") =>
        {
            format!("{name} hit its {reason}")
        }
        Outcome::RateLimited { reason, .. } if reason.starts_with("rate limited") => {
            format!("{name} is {reason}")
        }
        Outcome::CredentialRejected { reason } => {
            format!("{name}'s credential was refused ({reason})")
        }
        Outcome::QuotaExhausted { reason, .. }
        | Outcome::ModelLimitReached { reason, .. }
        | Outcome::RateLimited { reason, .. }
        | Outcome::Error { detail: reason, .. } => format!("{name}: {reason}"),
        other => format!("{name}: {}", other.label()),
    }
}

/// The line a failover prints.
fn failover_line(from: &SubscriptionName, outcome: &Outcome, to: &SubscriptionName) -> String {
    format!("kage: {}; continuing on {to}", why(from, outcome))
}

/// Stop Claude Code: SIGTERM (it restores the terminal and exits), SIGKILL
/// after [`STOP_GRACE`].
async fn stop(child: &mut Child) {
    forward(child.id(), Signal::SIGTERM);
    if tokio::time::timeout(STOP_GRACE, child.wait())
        .await
        .is_err()
    {
        tracing::debug!("claude did not exit within {STOP_GRACE:?} of SIGTERM; killing it");
        let _ = child.start_kill();
        let _ = child.wait().await;
    }
}

struct Session<'a> {
    context: &'a Context<'a>,
    opened: &'a Opened,
    pool: &'a AppPool,
    options: &'a LeaseOptions,
    /// The model family the leases ask for: Claude Code's `--model`, else
    /// Kage's `--model`, else the family of a model limit the session met.
    model: Cell<Option<ModelFamily>>,
    program: OsString,
    settings: Option<String>,
    user_statusline: Option<String>,
    ttl: Duration,
    terminal: Option<SavedTerminal>,
}

impl Session<'_> {
    fn printer(&self) -> &Printer {
        self.context.printer
    }

    /// A lease with its credential; a subscription whose credential cannot
    /// be read is marked `unhealthy` and the next one taken.
    async fn acquire(&self, max_wait: Option<Duration>) -> anyhow::Result<(Lease, SecretString)> {
        // No new lease while the database's disk is nearly full.
        if let Some(spool) = &self.opened.spool {
            spool.check_room()?;
        }
        let pool = self.pool;
        let zone = pool.clock().time_zone();
        let mut request = self.options.request("kage-claude", self.ttl, max_wait);
        request.selection.model = self.model.get();
        let printer = self.printer();
        let granted = pool
            .acquire_with_credential(&request, |notice| {
                printer.info(lease::waiting_message(notice, pool.clock().now(), &zone));
            })
            .await
            .map_err(|error| lease::unavailable(error, max_wait, pool.clock().now(), &zone))?;
        for unreadable in &granted.unreadable {
            printer.warn(format_args!(
                "{}: {}; marked unhealthy, trying the next subscription",
                unreadable.subscription, unreadable.error
            ));
        }
        Ok((granted.grant.lease, granted.credential))
    }

    /// Record the usage the transcripts showed on `lease`, with the
    /// transcripts' offsets; kept for the next try when the store cannot
    /// take it now.
    async fn record_usage(&self, lease: &Lease, watch: &mut Watch) {
        if watch.usage.is_empty() && watch.offsets.is_empty() {
            return;
        }
        let now = self.pool.clock().now();
        let batch = UsageBatch {
            subscription_id: lease.subscription_id,
            lease_id: Some(lease.id),
            records: watch
                .usage
                .iter()
                .map(|message| KeyedUsage {
                    key: message.key.clone(),
                    usage: message.usage.clone(),
                    at: message.at.unwrap_or(now),
                })
                .collect(),
            offsets: watch
                .offsets
                .iter()
                .map(|(path, offset)| ReadOffset {
                    path: path.to_string_lossy().into_owned(),
                    offset: *offset,
                })
                .collect(),
        };
        match self.pool.record_usage(&batch).await {
            Ok(_) => {
                watch.usage.clear();
                watch.offsets.clear();
            }
            Err(error) => tracing::debug!(
                "could not record the session's usage on {} yet: {error}",
                lease.subscription_name
            ),
        }
    }

    /// Whether a limit the session saw ends it on this subscription: every
    /// limit does but one on another model family than the session asks
    /// for (a subagent's), which is only recorded.
    fn stops_on(&self, outcome: &Outcome) -> bool {
        match outcome {
            Outcome::ModelLimitReached { family, .. } => {
                self.model.get().is_none_or(|asked| asked == *family)
            }
            _ => true,
        }
    }

    /// Start Claude Code on `lease` with `secret`; on failure the lease is
    /// released and the exit code returned.
    async fn spawn(
        &self,
        lease: &Lease,
        secret: SecretString,
        arguments: &[OsString],
    ) -> Result<Child, anyhow::Result<u8>> {
        let environment = match self.pool.child_environment(lease).await {
            Ok(environment) => environment,
            Err(error) => {
                let outcome = Outcome::Error {
                    kind: ErrorKind::Agent,
                    detail: "kage could not list the credential variables to remove".to_owned(),
                };
                release(self.opened, self.context, lease.id, outcome).await;
                return Err(Err(anyhow::Error::new(error)
                    .context("could not list the subscriptions' credential variables")));
            }
        };
        let mut child_arguments: Vec<OsString> = Vec::with_capacity(arguments.len() + 2);
        if let Some(settings) = &self.settings {
            child_arguments.push("--settings".into());
            child_arguments.push(settings.into());
        }
        child_arguments.extend(arguments.iter().cloned());
        // Through the parent-death shim: a kill -9 of kage ends Claude Code.
        let mut command = kage_app::parent_death::command(&self.program, &child_arguments, true);
        for variable in &environment.remove {
            command.env_remove(variable);
        }
        command.env(environment.credential_variable, secret.expose_secret());
        for (variable, value) in &environment.set {
            command.env(variable, value);
        }
        match &self.user_statusline {
            Some(line) => command.env(settings::USER_STATUSLINE_VARIABLE, line),
            None => command.env_remove(settings::USER_STATUSLINE_VARIABLE),
        };
        drop(secret);
        let program = self.program.to_string_lossy().into_owned();
        match command.spawn() {
            Ok(child) => Ok(child),
            Err(error) => {
                let outcome = Outcome::Error {
                    kind: ErrorKind::Agent,
                    detail: format!("could not start `{program}`"),
                };
                release(self.opened, self.context, lease.id, outcome).await;
                let code = match error.kind() {
                    std::io::ErrorKind::NotFound => 127,
                    std::io::ErrorKind::PermissionDenied => 126,
                    _ => kage_app::exit::FAILURE,
                };
                self.printer().error(
                    &anyhow::Error::new(error).context(format!("could not run `{program}`")),
                );
                Err(Ok(code))
            }
        }
    }

    /// Run until the child exits or (with failover on) a limit shows.
    async fn watch(
        &self,
        child: &mut Child,
        lease: &mut Lease,
        watch: &mut Watch,
        failover: bool,
    ) -> anyhow::Result<End> {
        let printer = self.printer();
        let child_pid = child.id();
        // With a terminal, Ctrl-C already reaches the child (same process
        // group); forwarding it too would deliver it twice.
        let forward_interrupt = !std::io::stdin().is_terminal();
        let mut interrupt = signal(SignalKind::interrupt()).context("could not watch SIGINT")?;
        let mut terminate = signal(SignalKind::terminate()).context("could not watch SIGTERM")?;
        let mut hangup = signal(SignalKind::hangup()).context("could not watch SIGHUP")?;
        let period = (self.ttl / 3).max(Duration::from_millis(100));
        let mut heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut look = tokio::time::interval(WATCH_PERIOD);
        look.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut recorded = false;
        loop {
            tokio::select! {
                status = child.wait() => return Ok(End::Exited(status)),
                _ = heartbeat.tick() => {
                    match self.pool.heartbeat(lease.id, Some(self.ttl)).await {
                        Ok(_) => {}
                        Err(
                            error @ (LeaseError::Expired { .. }
                            | LeaseError::NotFound(_)
                            | LeaseError::AlreadyReleased(_)
                            | LeaseError::SubscriptionRetired { .. }),
                        ) => {
                            // Claude Code already holds this subscription's
                            // credential: keep it if the subscription is free.
                            let request = self.options.request("kage-claude", self.ttl, None);
                            match regain(self.pool, &request, lease).await {
                                Some(again) => {
                                    printer.warn(format_args!(
                                        "lease {} was lost ({error}); {} was still free, so the session goes on under lease {}",
                                        lease.id, lease.subscription_name, again.id
                                    ));
                                    *lease = again;
                                }
                                None => {
                                    return Ok(End::Lost {
                                        error,
                                        session_id: watch.session_id.clone(),
                                    });
                                }
                            }
                        }
                        Err(error) => printer.warn(format_args!(
                            "could not heartbeat lease {}: {error}",
                            lease.id
                        )),
                    }
                }
                // Usage is recorded as it lands for as long as the session
                // runs; a limit is acted on once.
                _ = look.tick() => {
                    let clock = self.pool.clock();
                    let classify = ClassifyContext::new(clock.now(), clock.time_zone());
                    let limit = watch.look(&classify);
                    self.record_usage(lease, watch).await;
                    if let Some(limit) = limit.filter(|_| !recorded) {
                        let stops = self.stops_on(&limit.outcome);
                        if failover && stops {
                            return Ok(End::Limit(limit));
                        }
                        // Without failover (or on another model family's
                        // limit) the session stays; the pool learns all the same.
                        recorded = stops;
                        if let Err(error) = self.pool.record_signal(lease, &limit.outcome).await {
                            printer.warn(format_args!("could not record the limit of {}: {error}", lease.subscription_name));
                        }
                    }
                }
                _ = interrupt.recv() => if forward_interrupt { forward(child_pid, Signal::SIGINT) },
                _ = terminate.recv() => forward(child_pid, Signal::SIGTERM),
                _ = hangup.recv() => forward(child_pid, Signal::SIGHUP),
            }
        }
    }
}

/// Run Claude Code (`program arguments…`) under a lease, failing over to
/// the next subscription on a limit when `failover` is on. The exit code is
/// Claude Code's (the last one's, after failovers).
pub(crate) async fn run(
    context: &Context<'_>,
    options: &LeaseOptions,
    program: OsString,
    arguments: Vec<OsString>,
    failover: bool,
) -> anyhow::Result<u8> {
    options.check_nesting()?;
    let opened = context.open().await?;
    let pool = &opened.pool;
    let lookup = |name: &str| std::env::var(name).ok();
    let cwd = std::env::current_dir().context("could not read the working directory")?;
    let config_dir = kage_claude_code::config_dir(lookup);
    let feed = match &config_dir {
        Some(dir) => session_reader(pool, kage_claude_code::project_folder(dir, &cwd))
            .await
            .map_err(|error| {
                context.printer.warn(format_args!(
                    "cannot read Claude Code's transcripts ({error:#}); no usage is recorded and limits show only on the status line"
                ));
            })
            .ok(),
        None => None,
    };
    let report_dir = tempfile::Builder::new()
        .prefix("kage-session")
        .tempdir()
        .context("could not create a temporary folder for the session's status line")?;
    let report = report_dir.path().join("statusline.json");
    let settings = if arguments::has_settings(&arguments) {
        context.printer.info(
            "kage: you passed --settings, so the session has no Kage status line (see `kage statusline --help`)",
        );
        None
    } else {
        let kage = std::env::current_exe().context("could not find the kage binary")?;
        Some(settings::session_settings(&kage, &report))
    };
    let user_statusline =
        settings::user_statusline(&settings::settings_files(&cwd, config_dir.as_deref()));
    let ttl = options.ttl.unwrap_or(pool.settings().lease_ttl);
    // Claude Code's own `--model` is the model it runs, so it picks the
    // family; Kage's `--model` is passed on to Claude Code when it has none.
    let mut arguments = arguments;
    let model = match (arguments::model(&arguments), &options.selection.model) {
        (Some(model), _) => Some(model),
        (None, Some(model)) => {
            arguments.splice(0..0, [OsString::from("--model"), OsString::from(model)]);
            Some(model.clone())
        }
        (None, None) => None,
    };
    // The sessions whose transcripts are this lease's: the one the user's
    // arguments name, else a new one Kage names; the status line adds any
    // other the session moves to.
    let mut sessions = arguments::named_sessions(&arguments);
    if !arguments::picks_session(&arguments) {
        let session_id = uuid::Uuid::new_v4().to_string();
        arguments.splice(
            0..0,
            [OsString::from("--session-id"), OsString::from(&session_id)],
        );
        sessions.push(session_id);
    }
    let session = Session {
        context,
        opened: &opened,
        pool,
        options,
        model: Cell::new(model.as_deref().and_then(ModelFamily::of)),
        program,
        settings,
        user_statusline,
        ttl,
        terminal: SavedTerminal::capture(),
    };
    let mut watch = Watch::new(feed, report);
    for session_id in &sessions {
        watch.join(session_id);
    }

    let (mut lease, mut secret) = session.acquire(options.wait).await?;
    context.printer.info(format_args!(
        "kage: leased {} for `{}` (lease {})",
        lease.subscription_name,
        session.program.to_string_lossy(),
        lease.id
    ));
    let mut child_arguments = arguments.clone();
    loop {
        watch.reset();
        let mut child = match session.spawn(&lease, secret, &child_arguments).await {
            Ok(child) => child,
            Err(result) => return result,
        };
        match session
            .watch(&mut child, &mut lease, &mut watch, failover)
            .await?
        {
            End::Exited(status) => {
                watch.drain();
                session.record_usage(&lease, &mut watch).await;
                return finish(&session, &lease, status).await;
            }
            End::Lost { error, session_id } => {
                stop(&mut child).await;
                watch.drain();
                session.record_usage(&lease, &mut watch).await;
                if let Some(terminal) = &session.terminal {
                    terminal.restore(context.printer);
                }
                // An expired lease, or one on a subscription removed from
                // the pool, is still released: its outcome is recorded.
                if matches!(
                    error,
                    LeaseError::Expired { .. } | LeaseError::SubscriptionRetired { .. }
                ) {
                    let outcome = Outcome::Error {
                        kind: ErrorKind::Agent,
                        detail: "stopped: the lease was lost".to_owned(),
                    };
                    release(session.opened, context, lease.id, outcome).await;
                }
                let name = lease.subscription_name.clone();
                let Some(session_id) = session_id.filter(|_| failover) else {
                    context.printer.warn(format_args!(
                        "lease {} was lost ({error}) and {name} cannot be leased again; Claude Code was stopped",
                        lease.id
                    ));
                    let status = child.wait().await;
                    return Ok(status.map_or(kage_app::exit::FAILURE, exit_code));
                };
                let (next, next_secret) = tokio::select! {
                    next = session.acquire(Some(options.wait.unwrap_or(FAILOVER_MAX_WAIT))) => next?,
                    _ = tokio::signal::ctrl_c() => return Err(Interrupted.into()),
                };
                context.printer.info(format_args!(
                    "kage: the lease on {name} was lost ({error}); continuing on {}",
                    next.subscription_name
                ));
                watch.join(&session_id);
                child_arguments = arguments::resume_arguments(&arguments, &session_id, None);
                lease = next;
                secret = next_secret;
            }
            End::Limit(limit) => {
                // The failover line below says what happened; the release
                // prints nothing while Claude Code still draws the screen.
                let started = std::time::Instant::now();
                let stopping = async {
                    stop(&mut child).await;
                    tracing::debug!(elapsed = ?started.elapsed(), "claude stopped");
                };
                // Retried for up to a TTL while the database cannot take
                // the write, then spooled.
                let releasing = kage_app::spool::release_with_retry(
                    pool,
                    ReleaseRequest {
                        lease_id: lease.id,
                        outcome: limit.outcome.clone(),
                        usage: Usage::default(),
                    },
                    session.ttl,
                    opened.spool.as_ref(),
                );
                let ((), released) = tokio::join!(stopping, releasing);
                watch.drain();
                session.record_usage(&lease, &mut watch).await;
                if let Some(terminal) = &session.terminal {
                    terminal.restore(context.printer);
                }
                if let Err(error) = released {
                    context.printer.warn(format_args!(
                        "could not release lease {}: {error:#}; it expires by itself",
                        lease.id
                    ));
                }
                if let Outcome::ModelLimitReached { family, .. } = &limit.outcome
                    && session.model.get().is_none()
                {
                    // Claude Code's default model met its family's limit:
                    // the next subscription must have room for that family.
                    session.model.set(Some(*family));
                }
                let (next, next_secret) = tokio::select! {
                    next = session.acquire(Some(options.wait.unwrap_or(FAILOVER_MAX_WAIT))) => next?,
                    _ = tokio::signal::ctrl_c() => return Err(Interrupted.into()),
                };
                tracing::debug!(elapsed = ?started.elapsed(), "next lease granted");
                context.printer.info(failover_line(
                    &lease.subscription_name,
                    &limit.outcome,
                    &next.subscription_name,
                ));
                watch.join(&limit.session_id);
                child_arguments = arguments::resume_arguments(
                    &arguments,
                    &limit.session_id,
                    limit.prompt.as_deref(),
                );
                lease = next;
                secret = next_secret;
            }
        }
    }
}

/// The reader of the session's transcript folder, for the sessions that
/// join it only: it starts at the end of what is there (earlier usage is
/// not this lease's), where the store's offsets allow it to go on saving
/// them.
async fn session_reader(pool: &AppPool, folder: PathBuf) -> anyhow::Result<TranscriptReader> {
    let saved = pool
        .read_offsets()
        .await
        .context("could not read the saved transcript offsets")?;
    let mut reader = TranscriptReader::new(vec![folder.clone()])
        .with_lines()
        .only_sessions();
    reader.resume(
        saved
            .into_iter()
            .map(|saved| (PathBuf::from(saved.path), saved.offset))
            .filter(|(path, _)| path.starts_with(&folder)),
    );
    reader
        .skip_existing()
        .with_context(|| format!("could not read {}", folder.display()))?;
    Ok(reader)
}

async fn finish(
    session: &Session<'_>,
    lease: &Lease,
    status: std::io::Result<ExitStatus>,
) -> anyhow::Result<u8> {
    let program = session.program.to_string_lossy();
    let status = match status {
        Ok(status) => status,
        Err(error) => {
            let outcome = Outcome::Error {
                kind: ErrorKind::Agent,
                detail: "lost track of the command".to_owned(),
            };
            release(session.opened, session.context, lease.id, outcome).await;
            return Err(anyhow::Error::new(error).context("could not wait for the command"));
        }
    };
    let outcome = if status.success() {
        Outcome::Success
    } else {
        Outcome::Error {
            kind: ErrorKind::Agent,
            detail: format!("`{program}` exited with {status}"),
        }
    };
    release(session.opened, session.context, lease.id, outcome).await;
    Ok(exit_code(status))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(text: &str) -> SubscriptionName {
        SubscriptionName::new(text).expect("a name")
    }

    #[test]
    fn the_failover_line_says_why_and_where() {
        let exhausted = Outcome::QuotaExhausted {
            resets_at: None,
            reason: "5-hour limit, resets 03:04".to_owned(),
        };
        assert_eq!(
            failover_line(&name("work-premium"), &exhausted, &name("personal")),
            "kage: work-premium hit its 5-hour limit, resets 03:04; continuing on personal"
        );
        let limited = Outcome::RateLimited {
            retry_at: None,
            reason: "rate limited (429)".to_owned(),
        };
        assert_eq!(
            failover_line(&name("a"), &limited, &name("b")),
            "kage: a is rate limited (429); continuing on b"
        );
        let refused = Outcome::CredentialRejected {
            reason: "authentication failed (401)".to_owned(),
        };
        assert_eq!(
            failover_line(&name("a"), &refused, &name("b")),
            "kage: a's credential was refused (authentication failed (401)); continuing on b"
        );
    }

    #[test]
    fn claude_is_recognised_by_its_file_name() {
        assert!(is_claude(OsStr::new("claude")));
        assert!(is_claude(OsStr::new("/usr/local/bin/claude")));
        assert!(!is_claude(OsStr::new("claude-code")));
        assert!(!is_claude(OsStr::new("sh")));
    }

    #[test]
    fn a_limit_copied_into_a_resumed_transcript_is_not_acted_on_twice() {
        let dir = tempfile::tempdir().expect("temp dir");
        let sample = include_str!(
            "../../../kage-claude-code/tests/fixtures/transcript-session-limit-2.1.197.jsonl"
        );
        let mut feed = TranscriptReader::new(vec![dir.path().to_path_buf()]).with_lines();
        feed.skip_existing().expect("skip");
        let mut watch = Watch::new(Some(feed), dir.path().join("statusline.json"));
        let now: jiff::Timestamp = "2026-12-05T22:32:40Z".parse().expect("time");
        let context = ClassifyContext::new(now, jiff::tz::TimeZone::UTC);
        std::fs::write(dir.path().join("first.jsonl"), sample).expect("write");
        let limit = watch.look(&context).expect("the limit");
        assert_eq!(limit.session_id, "first");
        assert_eq!(limit.prompt.as_deref(), Some("say hi again"));
        watch.reset();
        std::fs::write(dir.path().join("copy.jsonl"), sample).expect("write");
        assert!(watch.look(&context).is_none());
    }

    fn assistant_line(id: &str, input: u64) -> String {
        format!(
            r#"{{"type":"assistant","message":{{"id":"{id}","model":"claude-sonnet-5","content":[],"usage":{{"input_tokens":{input},"output_tokens":1}}}},"requestId":"r-{id}","uuid":"u-{id}"}}"#
        ) + "\n"
    }

    fn append(path: &Path, text: &str) {
        use std::io::Write as _;
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .expect("open")
            .write_all(text.as_bytes())
            .expect("append");
    }

    #[test]
    fn only_the_childs_sessions_count_and_one_the_status_line_names_joins_with_its_earlier_messages()
     {
        let dir = tempfile::tempdir().expect("temp dir");
        let sample = include_str!(
            "../../../kage-claude-code/tests/fixtures/transcript-session-limit-2.1.197.jsonl"
        );
        let continued = dir.path().join("continued.jsonl");
        append(&continued, &assistant_line("before", 1));
        let mut feed = TranscriptReader::new(vec![dir.path().to_path_buf()])
            .with_lines()
            .only_sessions();
        feed.skip_existing().expect("skip");
        let report = dir.path().join("statusline.json");
        let mut watch = Watch::new(Some(feed), report.clone());
        watch.join("mine");
        let now: jiff::Timestamp = "2026-12-05T22:32:40Z".parse().expect("time");
        let context = ClassifyContext::new(now, jiff::tz::TimeZone::UTC);

        // Another session in the folder writes messages and hits a limit:
        // none of it is this child's.
        std::fs::write(dir.path().join("other.jsonl"), sample).expect("write");
        append(&dir.path().join("mine.jsonl"), &assistant_line("m1", 10));
        // `--continue` moved the child to an earlier session, which it
        // writes to before the status line names it.
        append(&continued, &assistant_line("c1", 100));
        assert!(watch.look(&context).is_none(), "another session's limit");
        let recorded = |watch: &Watch| -> Vec<(String, u64)> {
            watch
                .usage
                .iter()
                .map(|message| (message.key.clone(), message.usage.input_tokens))
                .collect()
        };
        assert_eq!(recorded(&watch), [("claude:m1:r-m1".to_owned(), 10)]);
        assert_eq!(watch.session_id.as_deref(), Some("mine"));

        std::fs::write(&report, r#"{"session_id":"continued"}"#).expect("write");
        assert!(watch.look(&context).is_none());
        assert_eq!(
            recorded(&watch),
            [
                ("claude:m1:r-m1".to_owned(), 10),
                ("claude:c1:r-c1".to_owned(), 100)
            ],
            "what it wrote during the lease, not before"
        );
        append(&dir.path().join("other.jsonl"), &assistant_line("o1", 1000));
        append(&continued, &assistant_line("c2", 200));
        watch.drain();
        assert_eq!(recorded(&watch).len(), 3);
        assert_eq!(recorded(&watch)[2], ("claude:c2:r-c2".to_owned(), 200));
    }

    #[test]
    fn a_spent_status_line_window_is_a_limit_without_a_prompt() {
        let dir = tempfile::tempdir().expect("temp dir");
        let report = dir.path().join("statusline.json");
        let mut watch = Watch::new(None, report.clone());
        let now: jiff::Timestamp = "2026-12-05T22:00:00Z".parse().expect("time");
        let context = ClassifyContext::new(now, jiff::tz::TimeZone::UTC);
        std::fs::write(&report, r#"{"session_id":"S","rate_limits":{"five_hour":{"used_percentage":99,"resets_at":1796513551}}}"#).expect("write");
        assert!(watch.look(&context).is_none());
        std::fs::write(&report, r#"{"session_id":"S","rate_limits":{"five_hour":{"used_percentage":100,"resets_at":"2026-12-05T23:32:00Z"}}}"#).expect("write");
        // A new modification time (file systems with coarse times may need a nudge).
        watch.report_seen = None;
        let limit = watch.look(&context).expect("a limit");
        assert_eq!(limit.session_id, "S");
        assert_eq!(limit.prompt, None);
        assert_eq!(
            limit.outcome,
            Outcome::QuotaExhausted {
                resets_at: "2026-12-05T23:32:00Z".parse().ok(),
                reason: "5-hour limit, resets 23:32".to_owned(),
            }
        );
        // The same report is not read twice.
        assert!(watch.look(&context).is_none());
    }
}
