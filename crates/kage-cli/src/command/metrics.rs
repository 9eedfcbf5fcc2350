//! `kage metrics`: the pool's figures in Prometheus text format, printed
//! once, or served over HTTP with `--listen ADDR` (`/metrics`, `/healthz`),
//! reading the store afresh on every scrape (scrapes that arrive together
//! share a read that began after each of them arrived).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use tokio::net::TcpListener;

use crate::command::Context;
use crate::{http, output};

#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  # where node_exporter's textfile collector reads it, e.g. every minute:\n  kage metrics > /var/lib/node_exporter/kage.prom.tmp && mv /var/lib/node_exporter/kage.prom.tmp /var/lib/node_exporter/kage.prom\n  # or let Prometheus scrape it:\n  kage metrics --listen 127.0.0.1:9464\n  curl -s http://127.0.0.1:9464/metrics"
)]
pub(crate) struct MetricsArgs {
    /// Serve the figures over HTTP at this address (`/metrics`, `/healthz`)
    /// until interrupted, instead of printing them once
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,

    /// With --listen: how long one scrape may read the store before it is
    /// answered 503 Service Unavailable
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_scrape_timeout, requires = "listen")]
    scrape_timeout: Duration,
}

impl MetricsArgs {
    pub(crate) async fn run(self, context: &Context<'_>) -> anyhow::Result<()> {
        let opened = context.open().await?;
        let Some(address) = self.listen else {
            let snapshot = opened.pool.metrics_snapshot().await?;
            output::metrics::print(context.printer, &snapshot)?;
            return Ok(());
        };
        let listener = TcpListener::bind(address)
            .await
            .with_context(|| format!("could not listen on {address}; choose another address with --listen, e.g. 127.0.0.1:9464"))?;
        let bound = listener
            .local_addr()
            .context("could not read the address the metrics server listens on")?;
        // One read before serving, without the scrape timeout: the first
        // read for this UTC offset fills the daily usage rollup from every
        // record (seconds on a large pool), which a scrape must not have to
        // do within its timeout. Scrapes read afresh all the same.
        if let Err(error) = opened.pool.metrics_snapshot().await {
            context.printer.warn(format_args!(
                "could not read the pool before serving ({error:#}); scrapes answer 503 until it can be read: check it with `kage subscription status`"
            ));
        }
        let pool = Arc::new(opened.pool);
        let render = http::SharedReads::new(move || {
            let pool = Arc::clone(&pool);
            async move {
                let snapshot = pool.metrics_snapshot().await?;
                Ok(output::metrics::render(&snapshot))
            }
        });
        context.printer.info(format_args!(
            "kage: serving metrics on http://{bound}/metrics (health: /healthz); Ctrl-C stops"
        ));
        http::serve(listener, render, self.scrape_timeout).await;
        Ok(())
    }
}

/// `--scrape-timeout`: 10ms to 365d.
fn parse_scrape_timeout(text: &str) -> Result<Duration, String> {
    kage_config::parse_bounded_duration(text, Duration::from_millis(10))
}
