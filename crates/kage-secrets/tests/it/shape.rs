//! The credential shape check: warnings for the wrong kind or a broken
//! paste, silence for a well-formed credential, never the secret itself.

use kage_domain::CredentialKind;
use kage_secrets::{SecretString, check_credential_shape};

fn check(kind: CredentialKind, secret: &str) -> Option<String> {
    let warning = check_credential_shape(kind, &SecretString::from(secret));
    if let Some(text) = &warning {
        let body = secret.trim();
        // Never quote the secret, nor the part after its well-known prefix.
        let tail = body.get(10..).unwrap_or_default();
        assert!(
            tail.is_empty() || !text.contains(tail),
            "warning quotes the secret: {text}"
        );
        assert!(!text.contains("CANARY"), "{text}");
    }
    warning
}

#[test]
fn well_formed_credentials_pass() {
    assert_eq!(
        check(CredentialKind::OAuth, "sk-ant-oat01-CANARY-DO-NOT-LEAK-abc"),
        None
    );
    assert_eq!(
        check(
            CredentialKind::ApiKey,
            "sk-ant-api03-CANARY-DO-NOT-LEAK-abc"
        ),
        None
    );
    assert_eq!(
        check(
            CredentialKind::OAuth,
            "  sk-ant-oat01-CANARY-DO-NOT-LEAK-abc\n"
        ),
        None
    );
}

#[test]
fn swapped_kinds_name_the_right_kind() {
    let warning =
        check(CredentialKind::OAuth, "sk-ant-api03-CANARY-DO-NOT-LEAK-abc").expect("warn");
    assert!(
        warning.contains("looks like an Anthropic API key"),
        "{warning}"
    );
    assert!(warning.contains("credential kind `api-key`"), "{warning}");

    let warning = check(
        CredentialKind::ApiKey,
        "sk-ant-oat01-CANARY-DO-NOT-LEAK-abc",
    )
    .expect("warn");
    assert!(
        warning.contains("looks like a Claude Code OAuth token"),
        "{warning}"
    );
    assert!(warning.contains("credential kind `oauth`"), "{warning}");
}

#[test]
fn unknown_shapes_say_what_was_expected() {
    let warning = check(CredentialKind::OAuth, "ghp_CANARY-DO-NOT-LEAK-0123456789").expect("warn");
    assert!(warning.contains("starts with `sk-ant-oat…`"), "{warning}");
    assert!(warning.contains("claude setup-token"), "{warning}");

    let warning = check(CredentialKind::ApiKey, "CANARY-DO-NOT-LEAK-0123456789").expect("warn");
    assert!(warning.contains("starts with `sk-ant-api…`"), "{warning}");
}

#[test]
fn broken_pastes_are_caught() {
    let warning = check(CredentialKind::OAuth, "sk-ant-oat01-CANARY-DO\nNOT-LEAK").expect("warn");
    assert!(warning.contains("single line"), "{warning}");
    let warning = check(CredentialKind::OAuth, "   ").expect("warn");
    assert!(warning.contains("empty"), "{warning}");
}
