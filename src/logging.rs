//! Logging: JSON when Lambda's log format is JSON, the job id on every line (a span), and never the event.

use std::env;

use tracing::Level;
use tracing_subscriber::filter::{EnvFilter, FilterExt, LevelFilter, filter_fn};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::{Layer, Registry};

/// Targets whose TRACE events carry what must never be logged: lambda_runtime's dump of the raw invocation
/// body (the artifact credentials included), and the SDK's dumps of signed requests and their headers.
const NEVER_AT_TRACE: [&str; 3] =
    ["lambda_runtime::layers::api_response", "aws_sigv4", "aws_smithy_runtime::client::orchestrator"];

/// Installs the global subscriber for the process.
pub fn init() {
    let json = env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"));
    let subscriber = subscriber(json, env_filter(), std::io::stdout);
    tracing::subscriber::set_global_default(subscriber).expect("logging is initialised once");
}

/// The subscriber, writing to `writer` (tests capture it).
pub fn subscriber<W>(json: bool, filter: EnvFilter, writer: W) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let never_secrets = filter_fn(|meta| {
        !(*meta.level() == Level::TRACE && NEVER_AT_TRACE.iter().any(|t| meta.target().starts_with(t)))
    });
    let filter = filter.and(never_secrets);
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

/// `RUST_LOG` when set, else Lambda's `AWS_LAMBDA_LOG_LEVEL`, else INFO.
pub fn env_filter() -> EnvFilter {
    let level =
        env::var("AWS_LAMBDA_LOG_LEVEL").ok().and_then(|l| l.parse::<LevelFilter>().ok()).unwrap_or(LevelFilter::INFO);
    EnvFilter::builder().with_default_directive(level.into()).from_env_lossy()
}
