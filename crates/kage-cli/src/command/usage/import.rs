//! `kage usage import`: the usage of Claude Code sessions run outside Kage
//! (or left unrecorded by a `kage claude` killed with -9), read from their
//! transcripts and recorded on a subscription, exactly once.
//!
//! Each assistant message is recorded under its key (message id and
//! request id), so messages `kage claude`, `kage-agent` or an earlier import
//! recorded already are not counted again; each file is read from the
//! offset saved by the last full read of it, so a second import reads only
//! new bytes.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use kage_claude_code::TranscriptReader;
use kage_domain::{SignedDuration, SubscriptionName, Usage};
use kage_ports::{KeyedUsage, ReadOffset, UsageBatch};

use crate::command::Context;
use crate::output::json;
use kage_app::exit::UsageError;
use kage_app::format::tokens;
use kage_app::time::parse_wait;

const EXAMPLES: &str = "\
Examples:
  kage usage import --subscription personal
  kage usage import --subscription work --since 5h
  kage usage import --subscription work ~/.claude/projects/-home-me-app
  kage usage import --subscription work session.jsonl --json | jq .recorded";

/// How many records one write holds.
const BATCH: usize = 2000;

#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub(crate) struct ImportArgs {
    /// The subscription the sessions ran on
    #[arg(long, value_name = "NAME")]
    subscription: SubscriptionName,

    /// Only messages written in the last DURATION (`5h`, `2d`); the files'
    /// read offsets are then left as they were
    #[arg(long, value_name = "DURATION", value_parser = parse_wait)]
    since: Option<Duration>,

    /// Transcript files or folders, read recursively [default:
    /// $CLAUDE_CONFIG_DIR/projects, else ~/.claude/projects]
    #[arg(value_name = "PATH")]
    paths: Vec<PathBuf>,

    /// Print the result as one JSON object on stdout
    #[arg(long)]
    json: bool,
}

impl ImportArgs {
    pub(crate) async fn run(self, context: &Context<'_>) -> anyhow::Result<()> {
        let roots = if self.paths.is_empty() {
            let config_dir = kage_claude_code::config_dir(|name| std::env::var(name).ok())
                .ok_or_else(|| {
                    UsageError(
                        "cannot tell where Claude Code keeps its transcripts: neither \
                         CLAUDE_CONFIG_DIR nor HOME is set; pass the transcript folders as PATH"
                            .to_owned(),
                    )
                })?;
            vec![config_dir.join("projects")]
        } else {
            let mut roots = Vec::with_capacity(self.paths.len());
            for path in &self.paths {
                if !path.exists() {
                    return Err(UsageError(format!(
                        "{} does not exist; pass a transcript file (.jsonl) or a folder of them",
                        path.display()
                    ))
                    .into());
                }
                roots.push(
                    std::path::absolute(path)
                        .with_context(|| format!("could not resolve {}", path.display()))?,
                );
            }
            roots
        };
        let opened = context.open().await?;
        let pool = &opened.pool;
        let subscription = pool.find(&self.subscription).await?;
        let now = pool.clock().now();
        let cutoff = self.since.map(|since| {
            now.checked_sub(SignedDuration::try_from(since).unwrap_or(SignedDuration::MAX))
                .unwrap_or(jiff::Timestamp::MIN)
        });

        let mut reader = TranscriptReader::new(roots);
        reader.resume(
            pool.read_offsets()
                .await?
                .into_iter()
                .map(|saved| (PathBuf::from(saved.path), saved.offset)),
        );
        let poll = tokio::task::spawn_blocking(move || reader.poll().map(|poll| (poll, reader)))
            .await
            .context("the transcript reader stopped")?
            .context("could not read the transcripts")?;
        let (poll, mut reader) = poll;
        let found = poll.usage.len();
        let records: Vec<KeyedUsage> = poll
            .usage
            .into_iter()
            .filter(|message| match (cutoff, message.at) {
                (Some(cutoff), Some(at)) => at >= cutoff,
                _ => true,
            })
            .map(|message| KeyedUsage {
                key: message.key,
                usage: message.usage,
                at: message.at.unwrap_or(now),
            })
            .collect();
        let in_range = records.len();
        // A read filtered by time is not a full read: offsets stay.
        let offsets: Vec<ReadOffset> = if cutoff.is_some() {
            Vec::new()
        } else {
            reader
                .offsets()
                .into_iter()
                .map(|(path, offset)| ReadOffset {
                    path: path.to_string_lossy().into_owned(),
                    offset,
                })
                .collect()
        };
        let mut recorded = 0;
        let mut usage = Usage::default();
        let mut chunks = records.chunks(BATCH).peekable();
        if chunks.peek().is_none() && !offsets.is_empty() {
            recorded += record(pool, &subscription.id, Vec::new(), offsets.clone()).await?;
        }
        while let Some(chunk) = chunks.next() {
            for record in chunk {
                usage.add(&record.usage);
            }
            let last = chunks.peek().is_none();
            let offsets = if last { offsets.clone() } else { Vec::new() };
            recorded += record(pool, &subscription.id, chunk.to_vec(), offsets).await?;
        }
        let already = u64::try_from(in_range).unwrap_or(u64::MAX) - recorded;
        let skipped = if found > in_range {
            format!("; {} older than --since skipped", found - in_range)
        } else {
            String::new()
        };
        if in_range == 0 {
            context.printer.info(format_args!(
                "no new messages in the transcripts; nothing recorded on {}{skipped}",
                subscription.name
            ));
        } else {
            context.printer.info(format_args!(
                "read {in_range} message(s) ({} tokens); recorded {recorded} on {}, {already} were recorded before{skipped}",
                tokens(usage.total_tokens()),
                subscription.name,
            ));
        }
        if self.json {
            context
                .printer
                .out(&json::document(&json::UsageImportJson {
                    subscription: subscription.name.to_string(),
                    messages: u64::try_from(in_range).unwrap_or(u64::MAX),
                    recorded,
                    already_recorded: already,
                    skipped_before_since: u64::try_from(found - in_range).unwrap_or(u64::MAX),
                    files_read_to_end: u64::try_from(offsets.len()).unwrap_or(u64::MAX),
                }))?;
        }
        Ok(())
    }
}

async fn record(
    pool: &kage_app::pool::AppPool,
    subscription: &kage_domain::SubscriptionId,
    records: Vec<KeyedUsage>,
    offsets: Vec<ReadOffset>,
) -> anyhow::Result<u64> {
    Ok(pool
        .record_usage(&UsageBatch {
            subscription_id: *subscription,
            lease_id: None,
            records,
            offsets,
        })
        .await?)
}
