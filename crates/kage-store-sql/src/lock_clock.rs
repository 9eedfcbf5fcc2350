//! The time of a write, read once its lock is won.
//!
//! Every operation gets `now` from its caller, read before the call. A
//! write that waits for the database's lock (another process's write on
//! SQLite, an advisory or row lock on PostgreSQL) would otherwise stamp its
//! lease with the time it started waiting: under contention, a lease then
//! seemed to start before the release that freed its slot, and history
//! showed more overlapping leases than the cap. A store given a clock
//! ([`crate::SqliteStore::with_clock`], [`crate::PostgresStore::with_clock`],
//! what the apps do) reads it again once the lock is won.

use std::sync::Arc;

use jiff::Timestamp;
use kage_ports::Clock;

use crate::codec::truncate;

/// The clock a store reads after taking its write lock; none: the caller's
/// `now` is kept (tests that pass times of their own).
#[derive(Clone, Default)]
pub(crate) struct LockClock(Option<Arc<dyn Clock>>);

impl LockClock {
    pub(crate) fn new(clock: Arc<dyn Clock>) -> Self {
        Self(Some(clock))
    }

    /// The time to write with, the lock being held: the clock's time, never
    /// before the caller's `given` (to the millisecond, as stored).
    pub(crate) fn after_lock(&self, given: Timestamp) -> Timestamp {
        match &self.0 {
            Some(clock) => truncate(clock.now().max(given)),
            None => given,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kage_ports::FixedClock;

    #[test]
    fn the_clock_is_read_after_the_lock_and_never_goes_back() {
        let given: Timestamp = "2025-06-02T10:00:00Z".parse().unwrap();
        let later: Timestamp = "2025-06-02T10:00:05.123456Z".parse().unwrap();
        assert_eq!(LockClock::default().after_lock(given), given);
        let clock = LockClock::new(Arc::new(FixedClock::utc(later)));
        assert_eq!(
            clock.after_lock(given),
            "2025-06-02T10:00:05.123Z".parse::<Timestamp>().unwrap()
        );
        let earlier = LockClock::new(Arc::new(FixedClock::utc(
            "2025-06-02T09:00:00Z".parse().unwrap(),
        )));
        assert_eq!(earlier.after_lock(given), given);
    }
}
