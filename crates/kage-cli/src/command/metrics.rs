//! `kage metrics`: the pool's figures in Prometheus text format.

use clap::Args;

use crate::command::Context;
use crate::output;

#[derive(Args, Debug)]
#[command(
    after_help = "Write it where node_exporter's textfile collector reads it, e.g. every minute:\n  kage metrics > /var/lib/node_exporter/kage.prom.tmp && mv /var/lib/node_exporter/kage.prom.tmp /var/lib/node_exporter/kage.prom"
)]
pub(crate) struct MetricsArgs {}

impl MetricsArgs {
    pub(crate) async fn run(self, context: &Context<'_>) -> anyhow::Result<()> {
        let opened = context.open().await?;
        let snapshot = opened.pool.metrics_snapshot().await?;
        output::metrics::print(context.printer, &snapshot)?;
        Ok(())
    }
}
