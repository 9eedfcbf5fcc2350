//! The Anthropic API stand-in as a program, for trying Claude Code against it
//! by hand:
//!
//! ```text
//! cargo run -p kage-tests --bin anthropic-standin -- [--port N] [CREDENTIAL=BEHAVIOUR…]
//! ANTHROPIC_BASE_URL=http://127.0.0.1:N CLAUDE_CODE_OAUTH_TOKEN=CREDENTIAL \
//!   CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 tests/node_modules/.bin/claude
//! ```
//!
//! BEHAVIOUR is `ok`, `limit-at-N` (5-hour limit from the Nth request),
//! `burst-SECONDS`, `unauthorized`, `overloaded` or `near-limit-PERCENT`.
//! It prints one line per request (method, path, status, model, stream,
//! message count, served tokens) until interrupted. Credentials given here
//! are test values: the log shows only their last four characters.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use kage_tests::standin::{Behaviour, StandIn};

fn behaviour(text: &str) -> Result<Behaviour> {
    let number = |prefix: &str| -> Option<&str> { text.strip_prefix(prefix) };
    Ok(match text {
        "ok" => Behaviour::Ok,
        "unauthorized" => Behaviour::Unauthorized,
        "overloaded" => Behaviour::Overloaded,
        _ if number("limit-at-").is_some() => Behaviour::FiveHourLimit {
            at_request: number("limit-at-").unwrap_or_default().parse()?,
            resets_at: None,
        },
        _ if number("burst-").is_some() => Behaviour::Burst {
            retry_after_secs: number("burst-").unwrap_or_default().parse()?,
        },
        _ if number("near-limit-").is_some() => Behaviour::NearLimit {
            utilization: number("near-limit-").unwrap_or_default().parse::<f64>()? / 100.0,
        },
        _ => bail!(
            "unknown behaviour `{text}`; use ok, limit-at-N, burst-SECONDS, unauthorized, overloaded or near-limit-PERCENT"
        ),
    })
}

#[allow(clippy::print_stdout, reason = "a manual tool: its log is its output")]
fn main() -> Result<()> {
    let mut port = 0_u16;
    let mut behaviours = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--port" {
            port = args
                .next()
                .context("--port needs a number")?
                .parse()
                .context("--port needs a number")?;
            continue;
        }
        let (credential, text) = arg
            .split_once('=')
            .context("arguments are CREDENTIAL=BEHAVIOUR; see the file's doc")?;
        behaviours.push((credential.to_owned(), behaviour(text)?));
    }
    let standin = StandIn::start_on(([127, 0, 0, 1], port).into())
        .context("start the stand-in; is the port free?")?;
    for (credential, behaviour) in &behaviours {
        standin.set(credential, behaviour.clone());
    }
    println!("ANTHROPIC_BASE_URL={}", standin.base_url());
    let mut shown = 0;
    loop {
        standin.wait_for(Duration::from_secs(3600), |requests| requests.len() > shown);
        for request in standin.requests().iter().skip(shown) {
            let tail: String = request
                .credential
                .as_deref()
                .map(|c| {
                    c.chars()
                        .rev()
                        .take(4)
                        .collect::<Vec<_>>()
                        .into_iter()
                        .rev()
                        .collect()
                })
                .unwrap_or_else(|| "none".to_owned());
            let last: String = request
                .texts()
                .last()
                .map(|text| text.chars().take(60).collect())
                .unwrap_or_default();
            println!(
                "{} {} -> {} credential …{tail} model={} stream={} messages={} tools={} served={:?} last={last:?}\n  headers: {:?}",
                request.method,
                request.uri,
                request.status,
                request.model.as_deref().unwrap_or("-"),
                request.stream,
                request.messages.as_array().map_or(0, Vec::len),
                request.tools,
                request.served.map(|u| u.total()),
                request.headers,
            );
            shown += 1;
        }
    }
}
