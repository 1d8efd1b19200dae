//! Logging: JSON when Lambda's log format is JSON, the job id on every line (a span), and never the event.
//!
//! Levels by allow-list: `RUST_LOG` (or Lambda's `AWS_LAMBDA_LOG_LEVEL`) sets this crate's level; every
//! other target stays at INFO whatever is asked, unless `RUST_LOG` names it (`aws_smithy_runtime=debug`), and
//! even then never below DEBUG. No dependency's TRACE output is ever emitted, so a dependency upgrade that adds
//! a TRACE dump (lambda_runtime's raw event, the SDK's signed requests) cannot leak the artifact credentials.

use std::env;

use tracing::Metadata;
use tracing_subscriber::filter::{LevelFilter, filter_fn};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::{Layer, Registry};

/// This crate's targets (the library and the binary share the name).
const OURS: &str = "ecs_deployer";
/// The most any other target may log, even when `RUST_LOG` names it.
const MOST_FOR_OTHERS: LevelFilter = LevelFilter::DEBUG;
/// Other targets' level when `RUST_LOG` does not name them.
const DEFAULT_FOR_OTHERS: LevelFilter = LevelFilter::INFO;

/// The levels in force: ours, and those `RUST_LOG` names for other targets (already capped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Levels {
    pub ours: LevelFilter,
    pub named: Vec<(String, LevelFilter)>,
}

impl Levels {
    /// From `RUST_LOG` (`level` and `target=level` directives, comma-separated) and `AWS_LAMBDA_LOG_LEVEL`.
    pub fn parse(rust_log: Option<&str>, lambda_level: Option<&str>) -> Self {
        let mut ours = lambda_level.and_then(|l| l.trim().parse::<LevelFilter>().ok()).unwrap_or(LevelFilter::INFO);
        let mut named = Vec::new();
        for directive in rust_log.unwrap_or_default().split(',').map(str::trim).filter(|d| !d.is_empty()) {
            match directive.split_once('=') {
                None => {
                    if let Ok(level) = directive.parse::<LevelFilter>() {
                        ours = level;
                    }
                }
                Some((target, level)) => {
                    let (Ok(level), target) = (level.trim().parse::<LevelFilter>(), target.trim()) else { continue };
                    if is_ours(target) {
                        ours = level;
                    } else if !target.is_empty() && !target.contains(['[', '{']) {
                        named.push((target.to_owned(), level.min(MOST_FOR_OTHERS)));
                    }
                }
            }
        }
        // The longest (most specific) name first.
        named.sort_by_key(|(target, _)| std::cmp::Reverse(target.len()));
        Self { ours, named }
    }

    pub fn from_env() -> Self {
        Self::parse(env::var("RUST_LOG").ok().as_deref(), env::var("AWS_LAMBDA_LOG_LEVEL").ok().as_deref())
    }

    /// The most verbose level `target` may log at.
    pub fn for_target(&self, target: &str) -> LevelFilter {
        if is_ours(target) {
            return self.ours;
        }
        self.named
            .iter()
            .find(|(name, _)| target == name || target.strip_prefix(name.as_str()).is_some_and(|r| r.starts_with("::")))
            .map(|(_, level)| *level)
            .unwrap_or(DEFAULT_FOR_OTHERS)
    }

    fn enabled(&self, meta: &Metadata<'_>) -> bool {
        *meta.level() <= self.for_target(meta.target())
    }
}

fn is_ours(target: &str) -> bool {
    target == OURS || target.starts_with("ecs_deployer::")
}

/// Installs the global subscriber for the process.
pub fn init() {
    let json = env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"));
    let subscriber = subscriber(json, Levels::from_env(), std::io::stdout);
    tracing::subscriber::set_global_default(subscriber).expect("logging is initialised once");
}

/// The subscriber, writing to `writer` (tests capture it).
pub fn subscriber<W>(json: bool, levels: Levels, writer: W) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = filter_fn(move |meta| levels.enabled(meta));
    let fmt = tracing_subscriber::fmt::layer().with_writer(writer).with_target(true).with_ansi(false);
    let layer = if json {
        fmt.json()
            .with_current_span(false)
            .with_span_list(true)
            .flatten_event(true)
            .without_time()
            .with_filter(filter)
            .boxed()
    } else {
        fmt.without_time().with_filter(filter).boxed()
    };
    Registry::default().with(layer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_level_from_rust_log_or_lambda_others_capped() {
        use LevelFilter as L;
        let cases: Vec<(Option<&str>, Option<&str>, &str, L)> = vec![
            (None, None, "ecs_deployer::deploy", L::INFO),
            (None, Some("DEBUG"), "ecs_deployer::deploy", L::DEBUG),
            (Some("trace"), Some("WARN"), "ecs_deployer::follow", L::TRACE),
            (Some("trace"), None, "lambda_runtime::layers::api_response", L::INFO),
            (Some("trace"), None, "aws_smithy_runtime::client::orchestrator", L::INFO),
            (Some("aws_smithy_runtime=trace"), None, "aws_smithy_runtime::client::orchestrator", L::DEBUG),
            (Some("aws_smithy_runtime=warn"), None, "aws_smithy_runtime::client", L::WARN),
            (Some("aws_smithy_runtime=debug"), None, "aws_smithy_runtime_api::x", L::INFO),
            (Some("aws=debug,aws_sigv4=trace"), None, "aws_sigv4::http_request", L::DEBUG),
            (Some("ecs_deployer=debug,error"), None, "ecs_deployer", L::ERROR),
            (Some("ecs_deployer::deploy=warn"), None, "ecs_deployer::deploy", L::WARN),
            (Some("not a level"), None, "ecs_deployer", L::INFO),
            (Some("hyper[span]=trace"), None, "hyper", L::INFO),
        ];
        for (rust_log, lambda, target, expected) in cases {
            assert_eq!(
                Levels::parse(rust_log, lambda).for_target(target),
                expected,
                "{rust_log:?} {lambda:?} {target}"
            );
        }
    }
}
