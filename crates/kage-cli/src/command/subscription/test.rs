//! `kage subscription test [NAME…]`: read each subscription's credential
//! (never printing it) and say whether it can be read now, with the fix when
//! it cannot. Exit 1 when any cannot be read.

use clap::Args;
use kage_core::CredentialCheck;
use kage_domain::{CredentialSource, SubscriptionName};
use kage_ports::SecretError;
use serde::Serialize;

use crate::command::Context;
use crate::output::json;

const EXAMPLES: &str = "\
Reads every credential the way a lease would (keychain, command or
environment variable) and throws the value away; nothing is leased and no
state changes. Exit status 1 when any credential cannot be read.

Examples:
  kage subscription test
  kage subscription test work personal --json";

#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub(crate) struct TestArgs {
    /// The subscriptions to test (default: all)
    names: Vec<SubscriptionName>,

    /// Print JSON Lines: one {"type":"credential_test","data":…} per subscription
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct CredentialTestJson {
    name: String,
    /// `keychain`, `command` or `env`.
    source: &'static str,
    readable: bool,
    /// What went wrong and how to fix it; never the credential.
    error: Option<String>,
}

/// How to repair a credential that cannot be read.
fn fix(name: &SubscriptionName, source: &CredentialSource, error: &SecretError) -> String {
    match (source, error) {
        (_, SecretError::NotFound { .. }) => {
            format!("store it again with `kage subscription edit {name} --rotate-credential`")
        }
        (_, SecretError::KeychainLocked { .. }) => "unlock the keychain".to_owned(),
        (CredentialSource::Command(_), _) => format!(
            "run the command yourself to see why, or point {name} elsewhere with `kage subscription edit {name} --credential-command \"…\"`"
        ),
        (CredentialSource::Env(variable), _) => {
            format!("export {variable} in the environment Kage runs in")
        }
        (CredentialSource::Keychain, _) => format!(
            "store it again with `kage subscription edit {name} --rotate-credential`, or use --credential-command / --credential-env on a headless host"
        ),
    }
}

fn render(checks: &[CredentialCheck]) -> String {
    let width = checks
        .iter()
        .map(|check| check.subscription.name.as_str().len())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for check in checks {
        let subscription = &check.subscription;
        let name = subscription.name.as_str();
        let source = subscription.credential.describe();
        match &check.read {
            Ok(()) => out.push_str(&format!("{name:<width$}  readable    {source}\n")),
            Err(error) => {
                out.push_str(&format!("{name:<width$}  UNREADABLE  {source}: {error}\n"));
                out.push_str(&format!(
                    "{:<width$}  fix: {}\n",
                    "",
                    fix(&subscription.name, &subscription.credential, error)
                ));
            }
        }
    }
    out
}

impl TestArgs {
    pub(crate) async fn run(self, context: &Context<'_>) -> anyhow::Result<()> {
        let opened = context.open().await?;
        let checks = opened.pool.test_credentials(&self.names).await?;
        if self.json {
            let tested: Vec<CredentialTestJson> = checks
                .iter()
                .map(|check| {
                    let subscription = &check.subscription;
                    CredentialTestJson {
                        name: subscription.name.to_string(),
                        source: subscription.credential.kind_str(),
                        readable: check.read.is_ok(),
                        error: check.read.as_ref().err().map(|error| {
                            format!(
                                "{error}; {}",
                                fix(&subscription.name, &subscription.credential, error)
                            )
                        }),
                    }
                })
                .collect();
            context.printer.out(&json::document(&tested))?;
        } else if checks.is_empty() {
            context
                .printer
                .out("No subscriptions yet; add one with `kage subscription add --name NAME`.\n")?;
        } else {
            context.printer.out(&render(&checks))?;
        }
        let unreadable = checks.iter().filter(|check| check.read.is_err()).count();
        if unreadable > 0 {
            let plural = if checks.len() == 1 { "" } else { "s" };
            anyhow::bail!(
                "{unreadable} of {} credential{plural} cannot be read; fix them as shown, then run `kage subscription test` again",
                checks.len()
            );
        }
        Ok(())
    }
}
