//! Time as a port: every "now" in Kage comes from a [`Clock`].

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use jiff::tz::TimeZone;
use kage_domain::{SignedDuration, Timestamp};

#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;

    /// The zone "today" is counted in.
    fn time_zone(&self) -> TimeZone;

    /// Wait until `deadline` (returns at once if it has passed).
    async fn sleep_until(&self, deadline: Timestamp);
}

/// Lets apps choose the clock at run time: `Box<dyn Clock>` and `Arc<…>`
/// are clocks too.
macro_rules! delegate_clock {
    ($wrapper:ident) => {
        #[async_trait]
        impl<T: Clock + ?Sized> Clock for $wrapper<T> {
            fn now(&self) -> Timestamp {
                (**self).now()
            }

            fn time_zone(&self) -> TimeZone {
                (**self).time_zone()
            }

            async fn sleep_until(&self, deadline: Timestamp) {
                (**self).sleep_until(deadline).await
            }
        }
    };
}

delegate_clock!(Box);
delegate_clock!(Arc);

/// The real clock: system time, the system's zone, tokio's timer.
#[derive(Clone, Debug, Default)]
pub struct SystemClock;

#[async_trait]
impl Clock for SystemClock {
    #[allow(
        clippy::disallowed_methods,
        reason = "this is the one place that reads system time"
    )]
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }

    fn time_zone(&self) -> TimeZone {
        TimeZone::system()
    }

    async fn sleep_until(&self, deadline: Timestamp) {
        let wait = deadline.duration_since(self.now());
        if wait.is_positive() {
            tokio::time::sleep(Duration::try_from(wait).unwrap_or(Duration::ZERO)).await;
        }
    }
}

/// A clock that stands still until told to move; sleeping moves it.
#[derive(Debug)]
pub struct FixedClock {
    now: Mutex<Timestamp>,
    zone: TimeZone,
}

impl FixedClock {
    pub fn new(now: Timestamp, zone: TimeZone) -> Self {
        Self {
            now: Mutex::new(now),
            zone,
        }
    }

    pub fn utc(now: Timestamp) -> Self {
        Self::new(now, TimeZone::UTC)
    }

    pub fn set(&self, now: Timestamp) {
        *self.now.lock().expect("clock lock") = now;
    }

    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock().expect("clock lock");
        *now = now
            .saturating_add(SignedDuration::try_from(by).unwrap_or(SignedDuration::MAX))
            .unwrap_or(*now);
    }
}

#[async_trait]
impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        *self.now.lock().expect("clock lock")
    }

    fn time_zone(&self) -> TimeZone {
        self.zone.clone()
    }

    async fn sleep_until(&self, deadline: Timestamp) {
        let mut now = self.now.lock().expect("clock lock");
        if deadline > *now {
            *now = deadline;
        }
    }
}
