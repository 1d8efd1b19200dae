//! The Lambda entry point: logging, clients (once), then the runtime loop.

use ecs_deployer::{Clients, Handler, logging};
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    logging::init();
    let handler = Handler::new(Clients::from_env().await);
    let handler = &handler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| handler.handle(event))).await
}
