//! What a simulated run does, read from the fake credential it receives.
//!
//! A fake credential carries its script after `-fake-`:
//! `sk-ant-oat01-<anything>-fake-<script>-<anything>`. The demo, the
//! benchmark and the end-to-end tests all write them this way.

/// Where the script starts in a fake credential.
pub const MARKER: &str = "-fake-";

/// What a simulated run does.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Behaviour {
    /// Works for a moment (three steps over the pace) and succeeds.
    Ok,
    /// The first N runs are `Ok`; later ones hit the 5-hour limit.
    LimitAfter(u32),
    /// Every run: a message, then 429 `api_retry` ten times, then the 429 result.
    Burst,
    /// The N-th run is a `Burst`; the others are `Ok`.
    BurstOn(u32),
    /// The credential is refused (OAuth 401).
    Reject,
    /// Succeeds near its limit (`allowed_warning`, 85 %).
    Warn,
    /// Succeeds at once (for the benchmark).
    Instant,
    /// The first run: 529 `api_retry` twice, then "529 Overloaded"; later runs `Ok`.
    OverloadedOnce,
    /// A message, then a ping every 100 ms for a minute; ends when nobody reads.
    Slow,
    /// The first run: a message, then it aborts (SIGABRT); later runs `Ok`.
    CrashOnce,
}

impl Behaviour {
    /// Every behaviour, one example each (for tests and docs).
    pub const EXAMPLES: [Self; 10] = [
        Self::Ok,
        Self::LimitAfter(3),
        Self::Burst,
        Self::BurstOn(2),
        Self::Reject,
        Self::Warn,
        Self::Instant,
        Self::OverloadedOnce,
        Self::Slow,
        Self::CrashOnce,
    ];

    /// Read the behaviour out of a fake credential; `None` for anything else.
    pub fn from_credential(credential: &str) -> Option<Self> {
        let (_, script) = credential.split_once(MARKER)?;
        Self::from_script(script)
    }

    /// `limit-after-2-x` → `LimitAfter(2)`, `ok-x` → `Ok`.
    pub fn from_script(script: &str) -> Option<Self> {
        let parts: Vec<&str> = script.split('-').collect();
        let number = |text: &str| text.parse::<u32>().ok();
        match parts.as_slice() {
            ["limit", "after", n, ..] => number(n).map(Self::LimitAfter),
            ["burst", "on", n, ..] => number(n).map(Self::BurstOn),
            ["overloaded", "once", ..] => Some(Self::OverloadedOnce),
            ["crash", "once", ..] => Some(Self::CrashOnce),
            ["ok", ..] => Some(Self::Ok),
            ["burst", ..] => Some(Self::Burst),
            ["reject", ..] => Some(Self::Reject),
            ["warn", ..] => Some(Self::Warn),
            ["instant", ..] => Some(Self::Instant),
            ["slow", ..] => Some(Self::Slow),
            _ => None,
        }
    }

    /// The script's name, which runs are counted under: `limit-after-3`.
    pub fn script(self) -> String {
        match self {
            Self::Ok => "ok".to_owned(),
            Self::LimitAfter(n) => format!("limit-after-{n}"),
            Self::Burst => "burst".to_owned(),
            Self::BurstOn(n) => format!("burst-on-{n}"),
            Self::Reject => "reject".to_owned(),
            Self::Warn => "warn".to_owned(),
            Self::Instant => "instant".to_owned(),
            Self::OverloadedOnce => "overloaded-once".to_owned(),
            Self::Slow => "slow".to_owned(),
            Self::CrashOnce => "crash-once".to_owned(),
        }
    }

    /// A fake OAuth token for this behaviour: `sk-ant-oat01-<nonce>-fake-<script>-x`.
    pub fn fake_credential(self, nonce: &str) -> String {
        format!("sk-ant-oat01-{nonce}{MARKER}{}-x", self.script())
    }

    /// What the `run`-th run of this behaviour does (1 for the first).
    pub(super) fn plan(self, run: u32) -> Plan {
        match self {
            Self::LimitAfter(n) if run > n => Plan::Limit,
            Self::Burst => Plan::Burst,
            Self::BurstOn(n) if run == n => Plan::Burst,
            Self::Reject => Plan::Reject,
            Self::Warn => Plan::Warn,
            Self::Instant => Plan::Instant,
            Self::OverloadedOnce if run == 1 => Plan::Overloaded,
            Self::Slow => Plan::Slow,
            Self::CrashOnce if run == 1 => Plan::Crash,
            Self::Ok
            | Self::LimitAfter(_)
            | Self::BurstOn(_)
            | Self::OverloadedOnce
            | Self::CrashOnce => Plan::Ok,
        }
    }
}

/// What one run prints, decided before it prints anything.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Plan {
    Ok,
    Warn,
    Instant,
    Limit,
    Burst,
    Reject,
    Overloaded,
    Slow,
    Crash,
    /// `--resume` of a session this simulator never started.
    UnknownSession,
    /// No fake credential, or not exactly one credential variable.
    BadCredential,
}

impl Plan {
    /// The name the run log shows.
    pub(super) fn name(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Warn => "warn",
            Self::Instant => "instant",
            Self::Limit => "limit",
            Self::Burst => "burst",
            Self::Reject => "reject",
            Self::Overloaded => "overloaded",
            Self::Slow => "slow",
            Self::Crash => "crash",
            Self::UnknownSession => "unknown-session",
            Self::BadCredential => "bad-credential",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaviour_round_trips_through_the_fake_credential() {
        for behaviour in Behaviour::EXAMPLES {
            let credential = behaviour.fake_credential("kage-demo-abc123");
            assert!(credential.starts_with("sk-ant-oat01-"));
            assert_eq!(Behaviour::from_credential(&credential), Some(behaviour));
        }
        assert_eq!(Behaviour::from_credential("sk-ant-oat01-real"), None);
        assert_eq!(
            Behaviour::from_credential("sk-ant-oat01-x-fake-nope-x"),
            None
        );
        assert_eq!(
            Behaviour::from_credential("sk-ant-api03-canary-1f2e-fake-limit-after-2-x"),
            Some(Behaviour::LimitAfter(2))
        );
    }

    #[test]
    fn plans_follow_the_run_number() {
        assert_eq!(Behaviour::LimitAfter(2).plan(2), Plan::Ok);
        assert_eq!(Behaviour::LimitAfter(2).plan(3), Plan::Limit);
        assert_eq!(Behaviour::BurstOn(2).plan(1), Plan::Ok);
        assert_eq!(Behaviour::BurstOn(2).plan(2), Plan::Burst);
        assert_eq!(Behaviour::Burst.plan(7), Plan::Burst);
        assert_eq!(Behaviour::OverloadedOnce.plan(1), Plan::Overloaded);
        assert_eq!(Behaviour::OverloadedOnce.plan(2), Plan::Ok);
        assert_eq!(Behaviour::CrashOnce.plan(1), Plan::Crash);
        assert_eq!(Behaviour::CrashOnce.plan(2), Plan::Ok);
    }
}
