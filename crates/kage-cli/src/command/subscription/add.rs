//! `kage subscription add`: register a subscription and store its credential.

use anyhow::Context as _;
use clap::Args;
use kage_core::AddSubscriptionRequest;
use kage_domain::{CredentialSource, Priority, SubscriptionName, Tag};
use kage_ports::StoreError;

use super::KindArg;
use crate::command::Context;
use crate::credential::{self, CredentialArgs};
use crate::output;

const EXAMPLES: &str = "\
Examples:
  kage subscription add --name personal
  kage subscription add --name work-premium --priority 150 \\
      --description \"Work account with higher limits\"
  kage subscription add --name backend-dedicated --tags backend,api --priority 120
  kage subscription add --name ci --kind api-key --credential-env ANTHROPIC_API_KEY_CI
  pass show claude/work | kage subscription add --name work --credential-stdin";

#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub(crate) struct AddArgs {
    /// A unique name: letters, digits, '-', '_' or '.'
    #[arg(long, value_name = "NAME")]
    name: SubscriptionName,

    /// 0 (lowest) to 255 (highest); higher ones are leased first
    #[arg(
        long,
        value_name = "N",
        allow_negative_numbers = true,
        default_value = "100"
    )]
    priority: Priority,

    /// What the subscription is for
    #[arg(long, value_name = "TEXT")]
    description: Option<String>,

    /// Comma-separated tags, for routes that say `tag:NAME`
    #[arg(long, value_name = "TAGS", value_delimiter = ',')]
    tags: Vec<Tag>,

    /// What the credential is
    #[arg(long, value_enum, default_value_t = KindArg::Oauth)]
    kind: KindArg,

    /// Lease it to at most N agents at once (default: no cap)
    #[arg(long, value_name = "N", allow_negative_numbers = true, value_parser = clap::value_parser!(u32).range(1..))]
    max_concurrent: Option<u32>,

    #[command(flatten)]
    credential: CredentialArgs,

    /// Print the result as one JSON object on stdout
    #[arg(long)]
    json: bool,
}

impl AddArgs {
    pub(crate) async fn run(self, context: &Context<'_>) -> anyhow::Result<()> {
        let printer = context.printer;
        let opened = context.open().await?;
        let pool = &opened.pool;
        // Refuse a taken name before asking for a secret.
        if pool
            .store()
            .subscription_by_name(&self.name)
            .await?
            .is_some()
        {
            return Err(StoreError::NameTaken(self.name).into());
        }
        let kind = self.kind.into();
        let credential = credential::obtain(&self.credential, &self.name, kind, printer)?;
        let subscription = pool
            .add_subscription(AddSubscriptionRequest {
                name: self.name.clone(),
                description: crate::command::plain_text("--description", self.description)?
                    .filter(|text| !text.trim().is_empty()),
                priority: self.priority,
                tags: self.tags.into_iter().collect(),
                kind,
                credential,
                max_concurrent: self.max_concurrent,
            })
            .await
            .with_context(|| format!("could not add subscription {}", self.name))?;
        let keychain = credential::keychain_label_for(
            &context.options,
            std::iter::once(&subscription.credential),
        )
        .await;
        output::subscription::added(printer, &subscription, &keychain);
        if self.json {
            output::subscription::subscription_json(printer, &subscription, &keychain)?;
        }
        if subscription.credential == CredentialSource::Keychain {
            credential::warn_if_lost_at_reboot(&context.options, &subscription.name, printer).await;
        }
        printer.hint(format_args!(
            "see the pool with `kage subscription status`; route work to it with `kage subscription route --namespace NS --subscriptions {}`",
            subscription.name
        ));
        Ok(())
    }
}
