//! `kage subscription edit NAME …`: change settings, rename, retag, or
//! replace the credential.

use anyhow::Context as _;
use clap::Args;
use kage_core::EditSubscriptionRequest;
use kage_domain::{CredentialSource, Priority, SubscriptionName, Tag};

use super::KindArg;
use crate::command::Context;
use crate::credential::{self, CredentialArgs};
use crate::output;

const EXAMPLES: &str = "\
Examples:
  kage subscription edit work-premium --priority 160
  kage subscription edit personal --name personal-backup
  kage subscription edit backend-dedicated --add-tag security --remove-tag api
  kage subscription edit personal --rotate-credential
  pass show claude/work | kage subscription edit work --rotate-credential --credential-stdin";

#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub(crate) struct EditArgs {
    /// The subscription to change
    #[arg(add = clap_complete::ArgValueCandidates::new(crate::complete::subscription_names))]
    subscription: SubscriptionName,

    /// Rename it (its credential and saved routes follow)
    #[arg(long, value_name = "NEW")]
    name: Option<SubscriptionName>,

    /// A new description ("" clears it)
    #[arg(long, value_name = "TEXT")]
    description: Option<String>,

    /// A new priority, 0 (lowest) to 255 (highest)
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    priority: Option<Priority>,

    /// Replace every tag (comma-separated; "" removes them all)
    #[arg(long, value_name = "TAGS", value_delimiter = ',', num_args = 1, conflicts_with_all = ["add_tag", "remove_tag"])]
    tags: Option<Vec<String>>,

    /// Add tags (comma-separated, repeatable)
    #[arg(long, value_name = "TAGS", value_delimiter = ',')]
    add_tag: Vec<Tag>,

    /// Remove tags (comma-separated, repeatable)
    #[arg(long, value_name = "TAGS", value_delimiter = ',')]
    remove_tag: Vec<Tag>,

    /// A new credential kind
    #[arg(long, value_enum)]
    kind: Option<KindArg>,

    /// Lease it to at most N agents at once
    #[arg(long, value_name = "N", allow_negative_numbers = true, value_parser = clap::value_parser!(u32).range(1..), conflicts_with = "no_max_concurrent")]
    max_concurrent: Option<u32>,

    /// Remove the cap on concurrent leases
    #[arg(long)]
    no_max_concurrent: bool,

    /// Replace the stored credential: prompts without echo, or reads stdin with --credential-stdin
    #[arg(long, help_heading = "Credential", conflicts_with_all = ["credential_command", "credential_env"])]
    rotate_credential: bool,

    #[command(flatten)]
    credential: CredentialArgs,

    /// Print the result as one JSON object on stdout
    #[arg(long)]
    json: bool,
}

impl EditArgs {
    pub(crate) async fn run(self, context: &Context<'_>) -> anyhow::Result<()> {
        let printer = context.printer;
        let opened = context.open().await?;
        let pool = &opened.pool;
        // Fail on an unknown name before asking for a secret.
        let current = pool.find(&self.subscription).await?;
        let kind = self.kind.map_or(current.kind, Into::into);

        let tags = match self.tags {
            None => None,
            Some(list) => Some(
                list.iter()
                    .map(|tag| tag.trim())
                    .filter(|tag| !tag.is_empty())
                    .map(Tag::new)
                    .collect::<Result<_, _>>()?,
            ),
        };
        let rotate = self.rotate_credential || !self.credential.is_empty();
        let credential = if rotate {
            Some(credential::obtain(
                &self.credential,
                &current.name,
                kind,
                printer,
            )?)
        } else {
            None
        };
        let request = EditSubscriptionRequest {
            name: self.name,
            description: crate::command::plain_text("--description", self.description)?
                .map(|text| Some(text).filter(|text| !text.trim().is_empty())),
            priority: self.priority,
            tags,
            add_tags: self.add_tag.into_iter().collect(),
            remove_tags: self.remove_tag.into_iter().collect(),
            kind: self.kind.map(Into::into),
            max_concurrent: if self.no_max_concurrent {
                Some(None)
            } else {
                self.max_concurrent.map(Some)
            },
            credential,
        };
        let edited = pool
            .edit_subscription(&current.name, request)
            .await
            .with_context(|| format!("could not edit subscription {}", current.name))?;
        let stored_in_keychain = self.rotate_credential || self.credential.credential_stdin;
        let keychain =
            credential::keychain_label_for(&context.options, std::iter::once(&edited.credential))
                .await;
        output::subscription::edited(
            printer,
            current.name.as_str(),
            &edited,
            stored_in_keychain,
            &keychain,
        );
        if self.json {
            output::subscription::subscription_json(printer, &edited, &keychain)?;
        }
        if stored_in_keychain && edited.credential == CredentialSource::Keychain {
            credential::warn_if_lost_at_reboot(&context.options, &edited.name, printer).await;
        }
        Ok(())
    }
}
