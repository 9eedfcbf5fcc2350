//! `kage lease acquire`: lease the best subscription for a script. Prints
//! the lease id and the subscription's name, never the credential.

use std::time::Duration;

use clap::Args;
use kage_core::AcquireRequest;

use crate::command::{Context, SelectionArgs};
use crate::output;
use kage_app::time::{parse_ttl, parse_wait};

const EXAMPLES: &str = "\
Prints `LEASE_ID SUBSCRIPTION` on one line. Exit status 75 when nothing is
available (after waiting, with --wait); the message says when the first
subscription comes back.

Examples:
  read -r lease subscription < <(kage lease acquire --namespace backend --wait 10m)
  …
  kage lease release \"$lease\" --outcome success --usage input=1200,output=340
  lease=$(kage lease acquire --priority high --tags premium --json | jq -r .id)";

#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub(crate) struct AcquireArgs {
    #[command(flatten)]
    selection: SelectionArgs,

    /// How long the lease lasts without a heartbeat (default: the config's lease_ttl, 2m)
    #[arg(long, value_name = "DURATION", value_parser = parse_ttl)]
    ttl: Option<Duration>,

    /// Wait up to DURATION for a subscription to come back (e.g. 10m)
    #[arg(long, value_name = "DURATION", value_parser = parse_wait)]
    wait: Option<Duration>,

    /// Who holds the lease, shown by `kage lease list` (default: kage-lease@HOST:PARENT_PID)
    #[arg(long, value_name = "TEXT")]
    holder: Option<String>,

    /// Print the lease as one JSON object {"id","subscription","expires_at",…}
    #[arg(long)]
    json: bool,
}

impl AcquireArgs {
    pub(crate) async fn run(self, context: &Context<'_>) -> anyhow::Result<()> {
        let printer = context.printer;
        let opened = context.open().await?;
        if let Some(spool) = &opened.spool {
            spool.check_room()?;
        }
        let pool = &opened.pool;
        if let Err(error) = kage_app::pool::check_config_routes(pool, &opened.config).await {
            printer.warn(kage_app::exit::error_line(&error));
        }
        let zone = pool.clock().time_zone();
        let request = AcquireRequest {
            selection: self.selection.request(),
            ttl: self.ttl,
            max_wait: self.wait,
            holder: crate::command::plain_text("--holder", self.holder)?.unwrap_or_else(|| {
                super::holder("kage-lease", std::os::unix::process::parent_id())
            }),
        };
        let grant = pool
            .acquire(&request, |notice| {
                let now = pool.clock().now();
                printer.info(super::waiting_message(notice, now, &zone));
            })
            .await
            .map_err(|error| super::unavailable(error, self.wait, pool.clock().now(), &zone))?;
        output::lease::acquired(printer, &grant.lease, pool.clock().now(), &zone, self.json)?;
        Ok(())
    }
}
