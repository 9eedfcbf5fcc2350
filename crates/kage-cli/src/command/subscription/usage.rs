//! `kage subscription usage`: tokens and cost per local day, with a bar
//! chart per subscription below the tables for a week or a month.

use clap::{Args, ValueEnum};
use kage_core::{Period, UsageRequest};
use kage_domain::SubscriptionName;

use crate::command::Context;
use crate::output;
use crate::output::usage::UsageStyle;

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum PeriodArg {
    /// Today, since local midnight
    Day,
    /// The last 7 local days, today included
    Week,
    /// The last 30 local days, today included
    Month,
}

#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  kage subscription usage --period week\n  kage subscription usage --period month --plain\n  kage subscription usage --subscription work-premium --period month"
)]
pub(crate) struct UsageArgs {
    /// How far back to look
    #[arg(long, value_enum, default_value_t = PeriodArg::Week)]
    period: PeriodArg,

    /// Only this subscription
    #[arg(long, value_name = "NAME", add = clap_complete::ArgValueCandidates::new(crate::complete::subscription_names))]
    subscription: Option<SubscriptionName>,

    /// Print one JSON object {"period","from","to","days":[…],"totals":[…]}
    #[arg(long, conflicts_with = "plain")]
    json: bool,

    /// The tables only, without the per-day bar chart drawn below them for a week or a month
    #[arg(long)]
    plain: bool,
}

impl UsageArgs {
    pub(crate) async fn run(self, context: &Context<'_>) -> anyhow::Result<()> {
        let opened = context.open().await?;
        let period = match self.period {
            PeriodArg::Day => Period::Day,
            PeriodArg::Week => Period::Week,
            PeriodArg::Month => Period::Month,
        };
        let report = opened
            .pool
            .usage(&UsageRequest {
                period,
                subscription: self.subscription.clone(),
            })
            .await?;
        output::usage::print(
            context.printer,
            &report,
            self.subscription.as_ref().map(SubscriptionName::as_str),
            if self.json {
                UsageStyle::Json
            } else if self.plain {
                UsageStyle::Tables
            } else {
                UsageStyle::TablesAndChart
            },
        )?;
        Ok(())
    }
}
