//! The Lambda entry point: logging, clients (once), then the runtime loop.

use ecs_deployer::engine::announce::Protocol;
use ecs_deployer::guard::Guard;
use ecs_deployer::{Clients, Handler, logging};
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    logging::init();
    let guard = Guard::from_env();
    let protocol = Protocol::from_env();
    tracing::info!(allow_lists = %guard.describe(), report_before_change = protocol.on, "starting");
    let handler = Handler::with_settings(Clients::from_env().await, guard, protocol);
    let handler = &handler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| handler.handle(event))).await
}
