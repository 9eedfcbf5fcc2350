//! A light sanity check of a credential's shape before it is stored, so a
//! pasted API key registered as an OAuth token (or a stray line break) is
//! caught at `kage subscription add`, not at the first failed lease.
//!
//! The check only warns: Anthropic may change its formats, so a credential
//! with an unknown shape can still be stored. Warnings never quote the
//! secret, not even in part.

use kage_domain::CredentialKind;
use secrecy::{ExposeSecret, SecretString};

/// A warning when `secret` does not look like a credential of `kind`
/// (`sk-ant-oat…` for OAuth tokens, `sk-ant-api…` for API keys), else
/// `None`. The text never contains the secret.
pub fn check_credential_shape(kind: CredentialKind, secret: &SecretString) -> Option<String> {
    let value = secret.expose_secret();
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Some("the credential is empty".to_owned());
    }
    if trimmed.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Some(
            "the credential contains spaces or line breaks; paste it as a single line".to_owned(),
        );
    }
    let expected = kind.expected_prefix();
    if trimmed.starts_with(expected) {
        return None;
    }
    let other = match kind {
        CredentialKind::OAuth => CredentialKind::ApiKey,
        CredentialKind::ApiKey => CredentialKind::OAuth,
    };
    if trimmed.starts_with(other.expected_prefix()) {
        return Some(format!(
            "this looks like {} (`{}…`), not {}; register it with credential kind `{other}`",
            describe(other),
            other.expected_prefix(),
            describe(kind),
        ));
    }
    Some(format!(
        "this does not look like {}, which starts with `{expected}…`; check that you pasted {}",
        describe(kind),
        match kind {
            CredentialKind::OAuth => "the token `claude setup-token` printed",
            CredentialKind::ApiKey => "a key from the Anthropic Console",
        }
    ))
}

/// Whether `text`, given where a name or a command belongs, looks like a
/// credential itself (an Anthropic token or key, `sk-ant-…`), so that the
/// caller refuses it without quoting it.
pub fn looks_like_credential(text: &str) -> bool {
    let trimmed = text.trim();
    trimmed.starts_with("sk-ant-")
        || trimmed.starts_with(CredentialKind::OAuth.expected_prefix())
        || trimmed.starts_with(CredentialKind::ApiKey.expected_prefix())
}

fn describe(kind: CredentialKind) -> &'static str {
    match kind {
        CredentialKind::OAuth => "a Claude Code OAuth token",
        CredentialKind::ApiKey => "an Anthropic API key",
    }
}
