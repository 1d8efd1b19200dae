//! AWS clients, built once per process; the artifact's S3 client is built per job from the job's credentials.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;

use crate::event::ArtifactCredentials;

/// The function's AWS clients.
#[derive(Clone, Debug)]
pub struct Clients {
    /// The function's own account and region.
    pub home: Reach,
    pub pipeline: aws_sdk_codepipeline::Client,
    /// S3 settings without credentials of their own: every read uses the job's artifact credentials.
    s3: aws_sdk_s3::Config,
}

/// The clients that act in one account and region: the function's own ([`Clients::home`]), or a target's.
#[derive(Clone, Debug)]
pub struct Reach {
    pub ecs: aws_sdk_ecs::Client,
    /// EventBridge Scheduler (`schedules`) and EventBridge (`rules`).
    pub scheduler: aws_sdk_scheduler::Client,
    pub events: aws_sdk_eventbridge::Client,
    /// ECR settings; each image is looked up in its own registry's region ([`Reach::ecr`]).
    ecr: aws_sdk_ecr::Config,
    /// CloudWatch Logs settings; a task's log is read in its awslogs region ([`Reach::logs`]).
    logs: aws_sdk_cloudwatchlogs::Config,
}

impl Reach {
    /// An ECR client for the registry's region (an image may live in another region than the function).
    pub fn ecr(&self, region: &str, fips: bool) -> aws_sdk_ecr::Client {
        let mut config = self.ecr.to_builder().region(aws_config::Region::new(region.to_owned()));
        if fips {
            config = config.use_fips(true);
        }
        aws_sdk_ecr::Client::from_conf(config.build())
    }

    /// A CloudWatch Logs client for a log group's region (awslogs-region).
    pub fn logs(&self, region: &str) -> aws_sdk_cloudwatchlogs::Client {
        let config = self.logs.to_builder().region(aws_config::Region::new(region.to_owned())).build();
        aws_sdk_cloudwatchlogs::Client::from_conf(config)
    }
}

impl Clients {
    /// Loads the standard AWS configuration (environment, `AWS_ENDPOINT_URL*` included) and builds the clients.
    pub async fn from_env() -> Self {
        let config = aws_config::defaults(BehaviorVersion::latest())
            .http_client(SharedHttpClient::new(DeferredTls(https_client())))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(3))
                    .operation_attempt_timeout(Duration::from_secs(10))
                    .operation_timeout(Duration::from_secs(30))
                    .build(),
            )
            .load()
            .await;
        Self::new(&config)
    }

    pub fn new(config: &SdkConfig) -> Self {
        Self::from_parts(
            aws_sdk_ecs::Client::new(config),
            aws_sdk_codepipeline::Client::new(config),
            config.into(),
            config.into(),
        )
        .with_logs(config.into())
        .with_schedules(aws_sdk_scheduler::Client::new(config), aws_sdk_eventbridge::Client::new(config))
    }

    /// Clients from parts (tests hand in mocked ones).
    pub fn from_parts(
        ecs: aws_sdk_ecs::Client,
        pipeline: aws_sdk_codepipeline::Client,
        s3: aws_sdk_s3::Config,
        ecr: aws_sdk_ecr::Config,
    ) -> Self {
        // A lost result leaves the pipeline waiting; the report gets more attempts than the other calls.
        let pipeline =
            pipeline.config().to_builder().retry_config(RetryConfig::standard().with_max_attempts(5)).build();
        let region = ecr.region().cloned();
        let unset = aws_config::BehaviorVersion::latest();
        let home = Reach {
            ecs,
            ecr,
            logs: aws_sdk_cloudwatchlogs::Config::builder().behavior_version(unset).region(region.clone()).build(),
            scheduler: aws_sdk_scheduler::Client::from_conf(
                aws_sdk_scheduler::Config::builder().behavior_version(unset).region(region.clone()).build(),
            ),
            events: aws_sdk_eventbridge::Client::from_conf(
                aws_sdk_eventbridge::Config::builder().behavior_version(unset).region(region).build(),
            ),
        };
        Self { home, pipeline: aws_sdk_codepipeline::Client::from_conf(pipeline), s3 }
    }

    /// These clients with CloudWatch Logs settings (tests hand in mocked ones).
    pub fn with_logs(mut self, logs: aws_sdk_cloudwatchlogs::Config) -> Self {
        self.home.logs = logs;
        self
    }

    /// These clients with EventBridge Scheduler and EventBridge clients (tests hand in mocked ones).
    pub fn with_schedules(mut self, scheduler: aws_sdk_scheduler::Client, events: aws_sdk_eventbridge::Client) -> Self {
        self.home.scheduler = scheduler;
        self.home.events = events;
        self
    }

    /// An S3 client that signs with the job's artifact credentials (never the function's role).
    pub fn artifact_s3(&self, credentials: &ArtifactCredentials) -> aws_sdk_s3::Client {
        let credentials = Credentials::new(
            &credentials.access_key_id,
            &credentials.secret_access_key,
            credentials.session_token.clone(),
            None,
            "CodePipelineArtifactCredentials",
        );
        let config = self.s3.to_builder().credentials_provider(SharedCredentialsProvider::new(credentials)).build();
        aws_sdk_s3::Client::from_conf(config)
    }
}

/// The SDK's default HTTPS client (hyper 1, rustls with aws-lc, proxy settings from the environment), built
/// as `aws-smithy-runtime` builds it.
fn https_client() -> SharedHttpClient {
    use aws_smithy_http_client::proxy::ProxyConfig;
    use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
    use aws_smithy_http_client::{Builder, ConnectorBuilder};
    Builder::new().build_with_connector_fn(|settings, components| {
        let mut connector = ConnectorBuilder::default().tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc));
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    })
}

/// The SDK's HTTPS client without its start-up work: building an SDK client makes the default HTTPS client
/// read and parse the system's root certificates (hundreds of files), which is most of a cold start's cost.
/// Passing connector requests straight through, minus that eager validation, leaves the load to the first
/// request, i.e. the first invocation, which needs TLS anyway.
#[derive(Debug)]
struct DeferredTls(SharedHttpClient);

impl HttpClient for DeferredTls {
    fn http_connector(&self, settings: &HttpConnectorSettings, components: &RuntimeComponents) -> SharedHttpConnector {
        self.0.http_connector(settings, components)
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.0.connector_metadata()
    }
}
