//! `kage metrics --listen`: a real scrape over TCP, its body checked by a
//! strict parser of the Prometheus text exposition format (0.0.4) and by
//! Prometheus's naming conventions, and equal to what `kage metrics` prints.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Stdio};

use crate::env::TestEnv;

/// A running `kage metrics --listen`, killed when dropped.
struct Server {
    child: Child,
    address: SocketAddr,
}

impl Server {
    fn start(env: &TestEnv, extra: &[&str]) -> Self {
        let mut args = vec!["metrics", "--listen", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        let mut child = env
            .std_command(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kage metrics --listen starts");
        let stderr = child.stderr.take().expect("stderr");
        let mut lines = BufReader::new(stderr).lines();
        let address = loop {
            let line = lines
                .next()
                .expect("kage says where it listens before exiting")
                .expect("stderr is text");
            if let Some(rest) = line.split_once("http://").map(|(_, rest)| rest) {
                let address = rest.split_once('/').expect("a URL with a path").0;
                break address.parse().expect("a socket address");
            }
        };
        // Keep draining stderr so the server never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Self { child, address }
    }

    /// The status code, the headers (lowercase names) and the body of `GET path`.
    fn get(&self, path: &str) -> (u16, BTreeMap<String, String>, String) {
        let mut stream = TcpStream::connect(self.address).expect("connect");
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nAccept: text/plain\r\n\r\n"
        )
        .expect("send the request");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).expect("read the answer");
        let (head, body) = answer.split_once("\r\n\r\n").expect("head and body");
        let mut lines = head.split("\r\n");
        let status_line = lines.next().expect("a status line");
        let status = status_line
            .strip_prefix("HTTP/1.1 ")
            .and_then(|rest| rest.get(..3))
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
        let headers = lines
            .map(|line| {
                let (name, value) = line.split_once(": ").expect("a header");
                (name.to_ascii_lowercase(), value.to_owned())
            })
            .collect();
        (status, headers, body.to_owned())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One sample: the metric name, its labels, its value.
type Sample = (String, BTreeMap<String, String>, f64);

fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn parse_value(text: &str) -> Result<f64, String> {
    match text {
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ if text.contains(|c: char| c.is_ascii_alphabetic() && c != 'e' && c != 'E') => {
            Err(format!("{text:?} is not a sample value"))
        }
        _ => text
            .parse()
            .map_err(|error| format!("{text:?} is not a sample value: {error}")),
    }
}

/// `{a="x",b="y\"z"}` (the braces' content) into labels.
fn parse_labels(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut labels = BTreeMap::new();
    let mut rest = text;
    while !rest.is_empty() {
        let (name, after) = rest
            .split_once("=\"")
            .ok_or_else(|| format!("expected name=\"value\" in {text:?}"))?;
        if !is_label_name(name) {
            return Err(format!("{name:?} is not a label name"));
        }
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next() {
                Some((_, '\\')) => match chars.next() {
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    Some((_, 'n')) => value.push('\n'),
                    other => return Err(format!("bad escape {other:?} in {text:?}")),
                },
                Some((index, '"')) => break index,
                Some((_, '\n')) => return Err(format!("raw line break in {text:?}")),
                Some((_, c)) => value.push(c),
                None => return Err(format!("unterminated label value in {text:?}")),
            }
        };
        if labels.insert(name.to_owned(), value).is_some() {
            return Err(format!("label {name:?} twice in {text:?}"));
        }
        rest = &after[end + 1..];
        rest = match rest.strip_prefix(',') {
            Some(next) => next,
            None if rest.is_empty() => rest,
            None => return Err(format!("expected `,` or `}}` after a label in {text:?}")),
        };
    }
    Ok(labels)
}

/// Parse an exposition strictly: every sample belongs to the family whose
/// `# TYPE` came last, families are contiguous and declared once with HELP
/// and TYPE, no series repeats. Returns the families' types and the samples.
fn parse_exposition(body: &str) -> Result<(BTreeMap<String, String>, Vec<Sample>), String> {
    if !body.ends_with('\n') {
        return Err("the body must end with a line break".to_owned());
    }
    let mut types = BTreeMap::new();
    let mut helped = BTreeSet::new();
    let mut current: Option<String> = None;
    let mut samples = Vec::new();
    let mut series = BTreeSet::new();
    for line in body.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').ok_or("HELP without text")?;
            if !is_metric_name(name) || help.trim().is_empty() || !helped.insert(name.to_owned()) {
                return Err(format!("bad or repeated HELP line {line:?}"));
            }
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').ok_or("TYPE without a type")?;
            if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                return Err(format!("unknown type in {line:?}"));
            }
            if !is_metric_name(name) || types.insert(name.to_owned(), kind.to_owned()).is_some() {
                return Err(format!("bad or repeated TYPE line {line:?}"));
            }
            if !helped.contains(name) {
                return Err(format!("TYPE before HELP for {name}"));
            }
            current = Some(name.to_owned());
        } else if line.starts_with('#') || line.trim().is_empty() {
            return Err(format!("unexpected line {line:?}"));
        } else {
            let (series_text, value) = line.rsplit_once(' ').ok_or("a sample without a value")?;
            let value = parse_value(value)?;
            let (name, labels) = match series_text.split_once('{') {
                Some((name, labels)) => (
                    name,
                    parse_labels(labels.strip_suffix('}').ok_or("labels without `}`")?)?,
                ),
                None => (series_text, BTreeMap::new()),
            };
            if !is_metric_name(name) {
                return Err(format!("{name:?} is not a metric name"));
            }
            if current.as_deref() != Some(name) {
                return Err(format!(
                    "sample {line:?} outside its family (TYPE {current:?})"
                ));
            }
            if !series.insert((name.to_owned(), labels.clone())) {
                return Err(format!("series repeated: {line:?}"));
            }
            samples.push((name.to_owned(), labels, value));
        }
    }
    Ok((types, samples))
}

fn value_of(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .find(|(sample, sample_labels, _)| {
            sample == name
                && labels.len() == sample_labels.len()
                && labels
                    .iter()
                    .all(|(key, value)| sample_labels.get(*key).map(String::as_str) == Some(*value))
        })
        .unwrap_or_else(|| panic!("no sample {name} {labels:?}"))
        .2
}

#[test]
fn the_parser_rejects_what_prometheus_rejects() {
    for bad in [
        "kage_x 1\n",
        "# HELP kage_x x\n# TYPE kage_x gauge\nkage_x 1",
        "# HELP kage_x x\n# TYPE kage_x gauge\nkage_x one\n",
        "# HELP kage_x x\n# TYPE kage_x gauge\nkage_x{a=\"1\"} 1\nkage_x{a=\"1\"} 2\n",
        "# HELP kage_x x\n# TYPE kage_x gauge\nkage_x{a=\"1} 1\n",
        "# HELP kage_x x\n# TYPE kage_x gauge\nkage_x{1a=\"1\"} 1\n",
        "# HELP kage_x x\n# TYPE kage_x gauge\nkage_y 1\n",
        "# HELP kage_x x\n# TYPE kage_x meter\nkage_x 1\n",
        "# TYPE kage_x gauge\nkage_x 1\n",
    ] {
        assert!(parse_exposition(bad).is_err(), "accepted {bad:?}");
    }
    let (_, samples) = parse_exposition(
        "# HELP kage_x x\n# TYPE kage_x gauge\nkage_x{a=\"q\\\"\\\\\\n\",b=\"\"} +Inf\n",
    )
    .expect("valid");
    assert_eq!(samples[0].1["a"], "q\"\\\n");
}

#[test]
fn a_scrape_parses_and_follows_the_naming_conventions() {
    let env = TestEnv::new();
    env.add("personal", &[]);
    env.add("work", &["--priority", "150"]);
    env.spend(
        &[],
        &[
            "--usage",
            "input=1000,output=200,cache-read=50",
            "--cost-usd",
            "0.25",
        ],
    );
    let lease = env.acquire(&[]);
    env.run(&["lease", "release", &lease, "--outcome", "rate-limited"])
        .success();
    let _live = env.acquire(&[]);
    let printed = env.run(&["metrics"]).success().stdout;

    let server = Server::start(&env, &["--scrape-timeout", "10s"]);
    let (status, headers, body) = server.get("/metrics");
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        headers.get("content-type").map(String::as_str),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    assert_eq!(headers["content-length"], body.len().to_string());
    assert_eq!(
        body, printed,
        "the scrape serves what `kage metrics` prints"
    );

    let (types, samples) =
        parse_exposition(&body).unwrap_or_else(|error| panic!("{error}\n{body}"));
    for (name, kind) in &types {
        assert!(name.starts_with("kage_"), "{name}");
        assert_eq!(
            kind == "counter",
            name.ends_with("_total"),
            "{name} is a {kind}"
        );
        assert!(
            !name.contains("_today_") || name.ends_with("_tokens") || name.ends_with("_usd"),
            "{name}: the unit goes last"
        );
    }
    assert!(types.contains_key("kage_subscription_today_tokens"));
    assert!(types.contains_key("kage_subscription_quota_utilization_ratio"));
    assert_eq!(types["kage_subscription_transitions_total"], "counter");
    assert_eq!(
        value_of(
            &samples,
            "kage_subscription_today_tokens",
            &[("subscription", "work"), ("kind", "input")]
        ),
        1000.0
    );
    assert_eq!(
        value_of(
            &samples,
            "kage_subscription_today_cost_usd",
            &[("subscription", "work")]
        ),
        0.25
    );
    assert_eq!(
        value_of(
            &samples,
            "kage_subscription_state",
            &[("subscription", "work"), ("state", "rate_limited")]
        ),
        1.0
    );
    assert_eq!(value_of(&samples, "kage_pool_live_leases", &[]), 1.0);

    // Every scrape reads the store afresh.
    env.run(&["subscription", "disable", "personal", "--reason", "holiday"])
        .success();
    let (_, _, again) = server.get("/metrics");
    let (_, samples) = parse_exposition(&again).expect("valid");
    assert_eq!(
        value_of(
            &samples,
            "kage_subscription_state",
            &[("subscription", "personal"), ("state", "disabled")]
        ),
        1.0
    );

    let (status, _, body) = server.get("/healthz");
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    let (status, _, body) = server.get("/nowhere");
    assert_eq!(status, 404);
    assert!(body.contains("/metrics"), "{body}");
}

#[test]
fn scrape_timeout_needs_listen() {
    let env = TestEnv::new();
    let run = env.run(&["metrics", "--scrape-timeout", "1s"]).code(2);
    assert!(run.stderr.contains("--listen"), "{}", run.stderr);
}
