//! `kage subscription …` (alias `kage sub`): the pool's subscriptions, their
//! routes, and what they are doing.

pub(crate) mod add;
pub(crate) mod disable;
pub(crate) mod edit;
pub(crate) mod enable;
pub(crate) mod explain;
pub(crate) mod list;
pub(crate) mod remove;
pub(crate) mod route;
pub(crate) mod routes;
pub(crate) mod show;
pub(crate) mod status;
pub(crate) mod unroute;
pub(crate) mod usage;

use clap::{Args, ValueEnum};
use kage_domain::{CredentialKind, Namespace, RouteTarget};

use super::LevelArg;

/// A credential kind as a flag value.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KindArg {
    /// A Claude Code OAuth token (`claude setup-token`), given to agents as CLAUDE_CODE_OAUTH_TOKEN
    Oauth,
    /// An Anthropic API key, given to agents as ANTHROPIC_API_KEY
    ApiKey,
}

impl From<KindArg> for CredentialKind {
    fn from(kind: KindArg) -> Self {
        match kind {
            KindArg::Oauth => Self::OAuth,
            KindArg::ApiKey => Self::ApiKey,
        }
    }
}

/// What a route applies to: one namespace or one priority level.
#[derive(Args, Debug, Clone)]
#[group(id = "target", required = true, multiple = false)]
pub(crate) struct TargetArgs {
    /// Route the agents of this namespace
    #[arg(long, value_name = "NS")]
    pub(crate) namespace: Option<Namespace>,

    /// Route tasks of this priority level
    #[arg(long, value_enum, value_name = "LEVEL", allow_negative_numbers = true)]
    pub(crate) priority: Option<LevelArg>,
}

impl TargetArgs {
    pub(crate) fn target(&self) -> RouteTarget {
        match (&self.namespace, self.priority) {
            (Some(namespace), _) => RouteTarget::Namespace(namespace.clone()),
            (None, Some(level)) => RouteTarget::Level(level.into()),
            (None, None) => unreachable!("clap requires --namespace or --priority"),
        }
    }
}
