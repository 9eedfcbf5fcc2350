//! Database URLs without their passwords, fit for messages and logs: the
//! one redactor every crate uses (config errors, store errors, `xtask`).

/// A PostgreSQL URL without its password, fit for messages and logs.
///
/// `postgres://kage:secret@db:5432/kage?sslmode=require&password=x` becomes
/// `postgres://kage@db:5432/kage?sslmode=require`.
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, url),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
            format!("{user}@{host}")
        }
        None => authority.to_owned(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let kept: Vec<&str> = query
                .split('&')
                .filter(|pair| {
                    let key = pair.split_once('=').map_or(*pair, |(key, _)| key);
                    !key.eq_ignore_ascii_case("password")
                })
                .collect();
            if kept.is_empty() {
                path.to_owned()
            } else {
                format!("{path}?{}", kept.join("&"))
            }
        }
        None => tail.to_owned(),
    };
    match scheme {
        Some(scheme) => format!("{scheme}://{authority}{tail}"),
        None => format!("{authority}{tail}"),
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn passwords_are_cut_from_urls() {
        for (url, expected) in [
            (
                "postgres://kage:s3cret@db.internal:5432/kage",
                "postgres://kage@db.internal:5432/kage",
            ),
            ("postgres://kage@db/kage", "postgres://kage@db/kage"),
            ("postgres://db/kage", "postgres://db/kage"),
            (
                "postgresql://u:p%40ss@h/d?sslmode=require&password=x",
                "postgresql://u@h/d?sslmode=require",
            ),
            ("postgres://h/d?password=x", "postgres://h/d"),
            ("postgres://u:p@ss@h/d", "postgres://u@h/d"),
        ] {
            assert_eq!(redact_url(url), expected, "{url}");
            assert!(!redact_url(url).contains("s3cret"));
        }
    }
}
