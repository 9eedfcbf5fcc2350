//! Logging setup both apps share: `tracing` events to standard error.

use tracing_subscriber::EnvFilter;

/// The filter for a verbosity when `RUST_LOG` is not set: -1 errors only,
/// 0 warnings, 1 info, 2 debug, 3 trace.
///
/// At the quiet levels (0 and below) sqlx's slow-statement warnings are left
/// out: a lease waiting for SQLite's write lock is normal when many agents
/// start at once, and the apps say what matters.
pub fn default_filter(verbosity: i8) -> String {
    let level = match verbosity {
        i8::MIN..=-1 => "error",
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    if verbosity <= 0 {
        format!("{level},sqlx=error")
    } else {
        level.to_owned()
    }
}

/// Send `tracing` events to stderr: `RUST_LOG` when set, else
/// [`default_filter`] for `verbosity`. Times and targets are shown from
/// verbosity 2 (debug) on.
pub fn init_logging(verbosity: i8, color: bool) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(default_filter(verbosity)));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(color)
        .with_target(verbosity >= 2);
    let result = if verbosity >= 2 {
        builder.try_init()
    } else {
        builder.without_time().try_init()
    };
    // A second initialisation (tests) keeps the first one.
    drop(result);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_levels_silence_sqlx_and_loud_ones_do_not() {
        assert_eq!(default_filter(-1), "error,sqlx=error");
        assert_eq!(default_filter(0), "warn,sqlx=error");
        assert_eq!(default_filter(1), "info");
        assert_eq!(default_filter(2), "debug");
        assert_eq!(default_filter(5), "trace");
    }
}
