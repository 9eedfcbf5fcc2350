//! "Did you mean …?": the one typo matcher every crate uses (config keys,
//! environment variables, subscription names, strategies).

/// The candidate nearest to `word` (ignoring case), if it is close enough to
/// be a typo: a few edits away, or sharing most of its letters in order
/// (Jaro-Winkler, which favours a common start).
pub fn nearest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let word = word.to_ascii_lowercase();
    let candidates: Vec<&'a str> = candidates.into_iter().collect();
    let edit_limit = (word.chars().count() / 3).max(2);
    candidates
        .into_iter()
        .filter_map(|candidate| {
            let lowercase = candidate.to_ascii_lowercase();
            let similarity = strsim::jaro_winkler(&word, &lowercase);
            let close =
                strsim::damerau_levenshtein(&word, &lowercase) <= edit_limit || similarity >= 0.85;
            close.then_some((similarity, candidate))
        })
        .max_by(|(left, _), (right, _)| left.total_cmp(right))
        .map(|(_, candidate)| candidate)
}

#[cfg(test)]
mod tests {
    use super::nearest;

    const SUBSCRIPTIONS: [&str; 8] = [
        "default_priority",
        "rate_limit_window",
        "rate_limit_cooldown",
        "exhausted_cooldown",
        "unhealthy_threshold",
        "approaching_threshold",
        "lease_ttl",
        "routing",
    ];

    #[test]
    fn typos_find_their_key() {
        for (typo, expected) in [
            ("rate_limt_window", "rate_limit_window"),
            ("rate-limit-window", "rate_limit_window"),
            ("ratelimit_cooldown", "rate_limit_cooldown"),
            ("Lease_TTL", "lease_ttl"),
            ("leasettl", "lease_ttl"),
            ("exhaust_cooldown", "exhausted_cooldown"),
            ("unhealthy_treshold", "unhealthy_threshold"),
            ("approach_threshold", "approaching_threshold"),
            ("defaultpriority", "default_priority"),
            ("route", "routing"),
        ] {
            assert_eq!(nearest(typo, SUBSCRIPTIONS), Some(expected), "{typo}");
        }
        assert_eq!(
            nearest(
                "max_retries",
                ["command", "max_api_retries", "max_wait", "parallel"]
            ),
            Some("max_api_retries")
        );
        assert_eq!(
            nearest("subscription", ["subscriptions", "storage", "agent"]),
            Some("subscriptions")
        );
    }

    #[test]
    fn unrelated_words_find_nothing() {
        for word in ["backend", "color", "threads", "database", "x"] {
            assert_eq!(nearest(word, SUBSCRIPTIONS), None, "{word}");
        }
        assert_eq!(nearest("backend", ["database_url", "database_path"]), None);
        assert_eq!(
            nearest(
                "color",
                ["command", "max_api_retries", "max_wait", "parallel"]
            ),
            None
        );
    }
}
