//! Getting a credential from the person or the script: a prompt without
//! echo, standard input, or a reference (a command or a variable) that the
//! secret store reads at lease time. Never printed, never in an argument
//! list, never in an error message.

use std::io::{self, IsTerminal, Read};

use anyhow::Context;
use clap::Args;
use kage_core::CredentialInput;
use kage_domain::{CredentialKind, CredentialSource, SubscriptionName};
use kage_secrets::{KeychainDescription, SecretError};
use secrecy::SecretString;
use secrecy::zeroize::Zeroize;

use crate::output::Printer;
use kage_app::exit::UsageError;
use kage_app::pool::GlobalOptions;

/// Where the credential comes from; with none of these, `kage` prompts for
/// it (without echo) when standard input is a terminal.
#[derive(Args, Debug, Clone, Default)]
#[group(id = "credential_source", multiple = false)]
pub(crate) struct CredentialArgs {
    /// Read the credential from standard input (for scripts); it is stored in the keychain (`kage doctor` says which)
    #[arg(long, help_heading = "Credential")]
    pub(crate) credential_stdin: bool,

    /// Run CMD (split like a shell, no shell) at lease time; its stdout is the credential, and Kage stores nothing
    #[arg(long, value_name = "CMD", help_heading = "Credential")]
    pub(crate) credential_command: Option<String>,

    /// Read the credential from environment variable VAR at lease time; Kage stores nothing
    #[arg(long, value_name = "VAR", help_heading = "Credential")]
    pub(crate) credential_env: Option<String>,
}

impl CredentialArgs {
    pub(crate) fn is_empty(&self) -> bool {
        !self.credential_stdin && self.credential_command.is_none() && self.credential_env.is_none()
    }
}

fn what(kind: CredentialKind) -> &'static str {
    match kind {
        CredentialKind::OAuth => "the OAuth token `claude setup-token` printed",
        CredentialKind::ApiKey => "the Anthropic API key",
    }
}

/// Read a secret from standard input: everything up to EOF, trimmed.
fn read_stdin(name: &SubscriptionName) -> anyhow::Result<SecretString> {
    let mut buffer = String::new();
    io::stdin()
        .read_to_string(&mut buffer)
        .context("could not read the credential from standard input")?;
    let secret = buffer.trim().to_owned();
    buffer.zeroize();
    if secret.is_empty() {
        return Err(UsageError(format!(
            "standard input held no credential for {name}; pipe it in, e.g. `kage subscription add --name {name} --credential-stdin < token.txt`"
        ))
        .into());
    }
    Ok(SecretString::from(secret))
}

/// Ask on the terminal without echo.
fn prompt(name: &SubscriptionName, kind: CredentialKind) -> anyhow::Result<SecretString> {
    let mut typed = rpassword::prompt_password(format!(
        "Credential for {name} ({}; input is hidden): ",
        what(kind)
    ))
    .context("could not read the credential from the terminal")?;
    let secret = typed.trim().to_owned();
    typed.zeroize();
    if secret.is_empty() {
        return Err(UsageError(format!(
            "no credential entered for {name}; nothing was changed"
        ))
        .into());
    }
    Ok(SecretString::from(secret))
}

/// A secret to store: from standard input when asked, else a prompt on the
/// terminal; without a terminal, an error that names `--credential-stdin`.
fn secret(
    name: &SubscriptionName,
    kind: CredentialKind,
    from_stdin: bool,
) -> anyhow::Result<SecretString> {
    if from_stdin {
        return read_stdin(name);
    }
    if !io::stdin().is_terminal() {
        return Err(UsageError(format!(
            "no credential given for {name}, and standard input is not a terminal to prompt on; pipe it in with --credential-stdin, or use --credential-command CMD or --credential-env VAR"
        ))
        .into());
    }
    prompt(name, kind)
}

/// The credential for `add`, or for `edit` when it changes one. `rotate`
/// asks for a new secret even without `--credential-stdin`.
pub(crate) fn obtain(
    args: &CredentialArgs,
    name: &SubscriptionName,
    kind: CredentialKind,
    printer: &Printer,
) -> anyhow::Result<CredentialInput> {
    if let Some(command) = &args.credential_command {
        if kage_secrets::looks_like_credential(command) {
            return Err(UsageError(
                "--credential-command takes a command that prints the credential, but a token was given; nothing was stored, so pipe the token in with --credential-stdin instead".to_owned(),
            )
            .into());
        }
        if command.chars().any(char::is_control) {
            return Err(UsageError(
                "--credential-command holds a control character (an escape, a line break, a tab or a NUL); give the command on one line".to_owned(),
            )
            .into());
        }
        if shell_split_is_empty(command) {
            return Err(UsageError(
                "--credential-command needs a command, e.g. \"pass show claude/work\"".to_owned(),
            )
            .into());
        }
        return Ok(CredentialInput::Command(command.clone()));
    }
    if let Some(variable) = &args.credential_env {
        check_variable(variable, name, kind, printer)?;
        return Ok(CredentialInput::Env(variable.clone()));
    }
    let secret = secret(name, kind, args.credential_stdin)?;
    if secrecy::ExposeSecret::expose_secret(&secret).contains('\0') {
        return Err(UsageError(format!(
            "the credential for {name} holds a NUL byte, which no environment variable can carry; nothing was stored; check what you piped in"
        ))
        .into());
    }
    check_shape(&secret, name, kind, printer);
    Ok(CredentialInput::Keychain(secret))
}

fn shell_split_is_empty(command: &str) -> bool {
    command.split_whitespace().next().is_none()
}

/// Warn (never quoting the secret) when a credential does not look like
/// its kind.
pub(crate) fn check_shape(
    secret: &SecretString,
    name: &SubscriptionName,
    kind: CredentialKind,
    printer: &Printer,
) {
    if let Some(warning) = kage_secrets::check_credential_shape(kind, secret) {
        printer.warn(format_args!(
            "the credential for {name} (kind {kind}): {warning}; it was stored anyway, fix it with `kage subscription edit {name} --rotate-credential` or `--kind`"
        ));
    }
}

fn check_variable(
    variable: &str,
    name: &SubscriptionName,
    kind: CredentialKind,
    printer: &Printer,
) -> anyhow::Result<()> {
    if kage_secrets::looks_like_credential(variable) {
        return Err(UsageError(
            "--credential-env takes the name of an environment variable, but a token was given; put the token in a variable and pass its name (e.g. --credential-env CLAUDE_TOKEN_WORK), or pipe it in with --credential-stdin".to_owned(),
        )
        .into());
    }
    let valid = variable
        .chars()
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && variable
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(UsageError(format!(
            "--credential-env takes the name of an environment variable (letters, digits and _), not {variable:?}"
        ))
        .into());
    }
    match std::env::var(variable) {
        Ok(value) if !value.is_empty() => {
            let secret = SecretString::from(value);
            if let Some(warning) = kage_secrets::check_credential_shape(kind, &secret) {
                printer.warn(format_args!(
                    "{variable} (the credential of {name}, kind {kind}): {warning}"
                ));
            }
        }
        _ => printer.warn(format_args!(
            "{variable} is not set in this environment; Kage reads it each time it leases {name}, so set it wherever agents run"
        )),
    }
    Ok(())
}

/// The keychain that keeps typed and piped credentials on this host (the
/// Secret Service, the kernel keyring, …), detected the way the pool's
/// secret store detects it.
///
/// # Errors
/// An unknown `KAGE_SECRET_BACKEND`, or no usable keychain.
pub(crate) async fn keychain(options: &GlobalOptions) -> Result<KeychainDescription, SecretError> {
    let selected = options
        .env
        .get(kage_secrets::SECRET_BACKEND_ENV)
        .map(std::ffi::OsStr::new);
    kage_secrets::secret_store_for(selected)?
        .keychain_description()
        .await
}

/// What `kage subscription list` shows for a keychain credential when no
/// keychain answers.
pub(crate) const NO_KEYCHAIN: &str = "keychain (none answers; see `kage doctor`)";

/// The keychain's name for screens, or [`NO_KEYCHAIN`].
pub(crate) async fn keychain_label(options: &GlobalOptions) -> String {
    keychain(options)
        .await
        .map_or_else(|_| NO_KEYCHAIN.to_owned(), |keychain| keychain.name)
}

/// [`keychain_label`] when one of `sources` is a keychain credential, else
/// an empty string (so a pool without one never probes a keychain).
pub(crate) async fn keychain_label_for<'a>(
    options: &GlobalOptions,
    mut sources: impl Iterator<Item = &'a CredentialSource>,
) -> String {
    if sources.any(|source| *source == CredentialSource::Keychain) {
        keychain_label(options).await
    } else {
        String::new()
    }
}

/// Where a credential lives: the keychain's name (`Secret Service`,
/// `kernel keyring`, `macOS Keychain`, `Windows Credential Manager`),
/// `command` or `env`.
pub(crate) fn store_label(source: &CredentialSource, keychain: &str) -> String {
    match source {
        CredentialSource::Keychain => keychain.to_owned(),
        CredentialSource::Command(_) => "command".to_owned(),
        CredentialSource::Env(_) => "env".to_owned(),
    }
}

/// The warning after a credential went to a keychain that forgets it at
/// reboot (the Linux kernel keyring), with the two ways to keep it.
pub(crate) fn lost_at_reboot_warning(
    name: &SubscriptionName,
    keychain: &KeychainDescription,
) -> Option<String> {
    keychain.lost_at_reboot.then(|| {
        format!(
            "the credential of {name} is in the {}, which is session-scoped: it is LOST AT REBOOT \
             (no Secret Service answered on this host); to keep it, put it in your password \
             manager and switch to `kage subscription edit {name} --credential-command \"pass \
             show claude/{name}\"`, or start a Secret Service (GNOME Keyring, KWallet, \
             KeePassXC) and add it again",
            keychain.name
        )
    })
}

/// After a credential was stored in the keychain: warn when that keychain
/// forgets it at reboot. A keychain that cannot be described was already
/// reported by the store call.
pub(crate) async fn warn_if_lost_at_reboot(
    options: &GlobalOptions,
    name: &SubscriptionName,
    printer: &Printer,
) {
    if let Ok(keychain) = keychain(options).await
        && let Some(warning) = lost_at_reboot_warning(name, &keychain)
    {
        printer.warn(warning);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(text: &str) -> SubscriptionName {
        SubscriptionName::new(text).unwrap()
    }

    #[test]
    fn the_kernel_keyring_warns_with_both_ways_to_keep_the_credential() {
        let kernel = KeychainDescription {
            name: "kernel keyring".to_owned(),
            lost_at_reboot: true,
        };
        let warning = lost_at_reboot_warning(&name("work"), &kernel).expect("a warning");
        assert!(warning.contains("kernel keyring"), "{warning}");
        assert!(warning.contains("LOST AT REBOOT"), "{warning}");
        assert!(warning.contains("--credential-command"), "{warning}");
        assert!(warning.contains("Secret Service"), "{warning}");
        let secret_service = KeychainDescription {
            name: "Secret Service".to_owned(),
            lost_at_reboot: false,
        };
        assert_eq!(lost_at_reboot_warning(&name("work"), &secret_service), None);
    }

    #[test]
    fn store_labels_name_the_store() {
        assert_eq!(
            store_label(&CredentialSource::Keychain, "Secret Service"),
            "Secret Service"
        );
        assert_eq!(
            store_label(
                &CredentialSource::Command("pass show x".into()),
                "Secret Service"
            ),
            "command"
        );
        assert_eq!(
            store_label(&CredentialSource::Env("KEY".into()), "Secret Service"),
            "env"
        );
    }
}
