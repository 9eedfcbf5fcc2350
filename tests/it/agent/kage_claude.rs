//! `kage claude` with the real Claude Code (`npm ci` in tests/) in a
//! pseudo-terminal (tmux), against the API stand-in: the first subscription
//! hits its 5-hour limit on turn 2, and the session goes on on the second
//! one, in the same terminal, with the first turn still in the conversation
//! and the interrupted prompt sent again; the usage recorded on each
//! subscription (from the transcripts, per assistant message) is exactly
//! what the stand-in served for the conversation.

use std::ffi::OsString;
use std::time::Duration;

use kage_domain::{CredentialKind, StateKind};
use kage_tests::standin::{Behaviour, RecordedRequest, StandIn};

use super::harness::{World, recorded_usage, state};

const WAIT: Duration = Duration::from_secs(60);

fn turns(standin: &StandIn, credential: &str) -> Vec<RecordedRequest> {
    standin
        .message_requests(credential)
        .into_iter()
        .filter(|request| !request.is_side_query())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interactive_session_fails_over_and_keeps_the_conversation() {
    let standin = StandIn::start();
    let mut world = World::with_real_claude(
        "[subscriptions]\ndefault_priority = \"priority\"\nlease_ttl = \"30s\"\n",
        &standin,
    );
    let pool = world.pool().await;
    world
        .add(&pool, "alpha", 200, CredentialKind::OAuth, "real", None)
        .await;
    let alpha = world.last_credential().to_owned();
    standin.set(&alpha, Behaviour::Ok);
    world
        .add(&pool, "beta", 100, CredentialKind::OAuth, "real", None)
        .await;
    let beta = world.last_credential().to_owned();
    standin.set(&beta, Behaviour::Ok);

    // `kage claude` in a terminal, with the world's environment.
    let kage = world.kage();
    let env: Vec<(OsString, OsString)> = kage
        .get_envs()
        .filter_map(|(name, value)| Some((name.to_owned(), value?.to_owned())))
        .collect();
    let home = world.claude_home().expect("the real Claude Code");
    let session = home.interactive_program(
        std::path::Path::new(kage.get_program()),
        &[OsString::from("claude")],
        env,
    );
    session.wait_for_screen(WAIT, |screen| {
        screen.contains("Claude Code v") && screen.contains('❯')
    });

    // Turn 1 on alpha; Kage's status line shows the subscription and its window.
    session.submit("remember the word tangerine");
    session.wait_for_screen(WAIT, |screen| screen.contains("Stand-in reply"));
    assert_eq!(turns(&standin, &alpha).len(), 1);
    session.wait_for_screen(WAIT, |screen| screen.contains("kage · alpha · 5h "));

    // Turn 2: alpha is spent.
    let reset = standin.five_hour_reset() - 1800;
    standin.set(
        &alpha,
        Behaviour::FiveHourLimit {
            at_request: 1,
            resets_at: Some(reset),
        },
    );
    session.submit("now say the word");
    assert!(
        standin.wait_for(WAIT, |requests| requests.iter().any(|request| {
            request.credential.as_deref() == Some(beta.as_str())
                && request.is_message()
                && !request.is_side_query()
        })),
        "no request reached beta; the screen:\n{}",
        session.screen()
    );
    let limited = turns(&standin, &alpha);
    assert_eq!(limited.last().map(|request| request.status), Some(429));

    // beta's first turn carries the conversation: turn 1 and the prompt
    // alpha refused, sent again by Kage, in the same Claude Code session.
    let resumed = &turns(&standin, &beta)[0];
    let texts = resumed.texts().join("\n");
    assert!(
        texts.contains("remember the word tangerine") && texts.contains("now say the word"),
        "beta's request holds the whole conversation: {texts}"
    );
    assert_eq!(
        resumed.claude_session_id,
        limited
            .last()
            .and_then(|request| request.claude_session_id.clone()),
        "the same session went on"
    );
    let screen = session.wait_for_screen(WAIT, |screen| {
        screen.contains("continuing on beta") && screen.contains("kage · beta")
    });
    assert!(
        screen.contains("kage: alpha hit its 5-hour limit, resets "),
        "{screen}"
    );
    assert_eq!(state(&pool, "alpha").await.kind(), StateKind::Exhausted);
    assert_eq!(state(&pool, "beta").await.kind(), StateKind::Active);

    // No credential value ever reaches the screen.
    for credential in [&alpha, &beta] {
        assert!(!session.screen().contains(credential.as_str()));
    }

    // The user ends the session: kage releases beta's lease and exits.
    session.submit("/exit");
    let started = std::time::Instant::now();
    while !session.exited() && started.elapsed() < WAIT {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(session.exited(), "{}", session.screen());
    let leases = world
        .kage()
        .args(["lease", "list", "--json"])
        .output()
        .unwrap();
    let leases: serde_json::Value =
        serde_json::from_slice(&leases.stdout).expect("one JSON document");
    assert_eq!(leases, serde_json::json!([]));

    // The usage of each subscription is what the stand-in served for the
    // conversation on its credential, to the token. Claude Code's side
    // queries (the session title) are billed but in no transcript: they are
    // counted apart (docs/decisions.md, "What transcripts cannot show").
    let recorded = recorded_usage(&pool).await;
    for (name, credential) in [("alpha", &alpha), ("beta", &beta)] {
        let served = standin.served_conversation(credential);
        assert!(served.total() > 0, "{name} served a turn");
        let usage = recorded
            .get(name)
            .unwrap_or_else(|| panic!("no usage recorded on {name}: {recorded:?}"));
        assert_eq!(
            (
                usage.input_tokens,
                usage.output_tokens,
                usage.cache_write_tokens,
                usage.cache_read_tokens
            ),
            (
                served.input_tokens,
                served.output_tokens,
                served.cache_creation_input_tokens,
                served.cache_read_input_tokens
            ),
            "{name}: recorded {usage:?}, served for the conversation {served:?}, side queries {:?}",
            standin.served_side_queries(credential)
        );
        let mut all = served;
        all.add(standin.served_side_queries(credential));
        assert_eq!(
            all,
            standin.served(credential),
            "{name}: every served token is one or the other"
        );
    }
}
