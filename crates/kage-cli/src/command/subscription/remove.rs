//! `kage subscription remove NAME`: take a subscription out of the pool.
//! It is retired: gone from selection and lists (`list --all` shows it), its
//! usage and transitions kept and counted in totals, its leases still
//! releasable, its name free again; its stored credential and its mentions
//! in saved routes are deleted. `--purge` erases it with its history, after
//! a confirmation (or `--yes`).

use std::io::{BufRead as _, IsTerminal as _};

use anyhow::Context as _;
use clap::Args;
use kage_app::exit::UsageError;
use kage_domain::SubscriptionName;

use crate::command::Context;
use crate::output;

const EXAMPLES: &str = "\
Examples:
  kage subscription remove old-team
  kage subscription remove work --force          # even with live leases
  kage subscription remove old-team --purge --yes
  kage subscription remove old-team --json";

#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub(crate) struct RemoveArgs {
    /// The subscription to remove
    #[arg(add = clap_complete::ArgValueCandidates::new(crate::complete::subscription_names))]
    name: SubscriptionName,

    /// Remove it even while agents hold live leases on it
    #[arg(long)]
    force: bool,

    /// Erase it for good with its leases, usage and transitions (also one
    /// removed earlier), instead of keeping its history
    #[arg(long)]
    purge: bool,

    /// Do not ask before --purge erases
    #[arg(long, requires = "purge")]
    yes: bool,

    /// Print the result as one JSON object on stdout
    #[arg(long)]
    json: bool,
}

impl RemoveArgs {
    pub(crate) async fn run(self, context: &Context<'_>) -> anyhow::Result<()> {
        let opened = context.open().await?;
        let removed = if self.purge {
            let targets = opened.pool.purge_targets(&self.name).await?;
            if !self.yes && !confirmed(context, &targets)? {
                context.printer.info("Nothing was erased");
                return Ok(());
            }
            opened
                .pool
                .purge(targets, self.force)
                .await
                .with_context(|| format!("could not erase subscription {}", self.name))?
        } else {
            opened
                .pool
                .remove_subscription(&self.name, self.force)
                .await
                .with_context(|| format!("could not remove subscription {}", self.name))?
        };
        output::subscription::removed(context.printer, &removed);
        if self.json {
            output::subscription::removed_json(context.printer, &removed)?;
        }
        let still_in_config: Vec<String> = opened
            .config
            .routing()
            .iter()
            .filter(|(_, entries)| {
                entries.contains(&kage_domain::RouteEntry::Subscription(self.name.clone()))
            })
            .map(|(target, _)| target.to_string())
            .collect();
        if !still_in_config.is_empty() {
            context.printer.warn(format_args!(
                "the config file still routes {} to {}; remove it there too, or `kage config check` will fail",
                still_in_config.join(" and "),
                self.name
            ));
        }
        Ok(())
    }
}

/// Ask on the terminal whether to erase; without one, refuse (a script
/// passes `--yes`).
fn confirmed(context: &Context<'_>, targets: &kage_core::PurgeTargets) -> anyhow::Result<bool> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(UsageError(format!(
            "--purge erases {} with its usage and history for good, and there is no terminal to ask on; pass --yes to confirm",
            targets.name
        ))
        .into());
    }
    output::subscription::purge_question(context.printer, targets);
    let mut answer = String::new();
    stdin
        .lock()
        .read_line(&mut answer)
        .context("could not read the answer")?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "Yes" | "YES"))
}
