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

use crate::config::Access;
use crate::error::{AssumeRoleError, AwsError, Error};
use crate::event::ArtifactCredentials;

/// Every target's clients for one job ([`Clients::reaches`]).
#[derive(Clone, Debug)]
pub struct Reaches {
    home: Reach,
    reaches: Vec<(Access, Reach)>,
    per_target: Vec<usize>,
    /// The function's own account (the job's) and region, when known.
    home_account: Option<String>,
    home_region: Option<String>,
}

impl Reaches {
    /// The function's own account and region only (no target elsewhere).
    pub fn home(clients: &Clients, targets: usize) -> Self {
        Self {
            home: clients.home.clone(),
            reaches: Vec::new(),
            per_target: vec![usize::MAX; targets],
            home_account: None,
            home_region: clients.home.ecs.config().region().map(|r| r.to_string()),
        }
    }

    /// `arn:<partition>:ecs:<region>:<account>` of the function's own account and region: a home target's
    /// service's, else made of the function's region and the job's account.
    pub fn home_prefix(&self, services: &[aws_sdk_ecs::types::Service], targets: &[crate::config::Target]) -> String {
        let prefix =
            |s: &aws_sdk_ecs::types::Service| s.service_arn().and_then(crate::text::arn_prefix).map(str::to_owned);
        if let Some(p) = targets.iter().zip(services).find(|(t, _)| t.access.is_home()).and_then(|(_, s)| prefix(s)) {
            return p;
        }
        let first = services.first().and_then(prefix).unwrap_or_default();
        let partition = first.split(':').nth(1).unwrap_or("aws");
        match (&self.home_region, &self.home_account) {
            (Some(region), Some(account)) => format!("arn:{partition}:ecs:{region}:{account}"),
            _ => first,
        }
    }

    /// Target `i`'s clients.
    pub fn target(&self, i: usize) -> &Reach {
        self.per_target.get(i).and_then(|r| self.reaches.get(*r)).map(|(_, r)| r).unwrap_or(&self.home)
    }

    /// Which reach target `i` uses (targets with the same number share an account and region).
    pub fn place(&self, i: usize) -> usize {
        self.per_target.get(i).copied().unwrap_or(usize::MAX)
    }

    /// The reaches of some of the targets, in that order.
    pub fn subset(&self, which: &[usize]) -> Reaches {
        Reaches { per_target: which.iter().map(|i| self.place(*i)).collect(), ..self.clone() }
    }

    /// The clients for an account (an ECR registry's): a target's role in that account, else the function's own.
    pub fn for_account(&self, account: &str) -> &Reach {
        self.reaches.iter().map(|(_, r)| r).find(|r| r.account.as_deref() == Some(account)).unwrap_or(&self.home)
    }

    /// The distinct reaches, each with the targets it serves (in order).
    pub fn groups(&self, targets: usize) -> Vec<(&Reach, Vec<usize>)> {
        let mut out: Vec<(usize, Vec<usize>)> = Vec::new();
        for i in 0..targets {
            let r = self.per_target.get(i).copied().unwrap_or(usize::MAX);
            match out.iter_mut().find(|(k, _)| *k == r) {
                Some((_, list)) => list.push(i),
                None => out.push((r, vec![i])),
            }
        }
        out.into_iter().map(|(_, list)| (self.target(list[0]), list)).collect()
    }
}

/// `RoleSessionName` for a job: `codepipeline-<job id>`, in STS's characters (`[\w+=,.@-]`), at most 64.
pub fn session_name(job_id: &str) -> String {
    let name: String = format!("codepipeline-{job_id}")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || "_+=,.@-".contains(c) { c } else { '-' })
        .take(64)
        .collect();
    if name.len() < 2 { "codepipeline".to_owned() } else { name }
}

/// STS AssumeRole with the function's own credentials, in the function's region (its regional endpoint), for
/// as long as the invocation may last (15 minutes at least, STS's minimum).
async fn assume(
    sts: &aws_sdk_sts::Client,
    role: &str,
    external_id: Option<&str>,
    job_id: &str,
    seconds_left: u64,
) -> Result<Credentials, Error> {
    let account = role.split(':').nth(4).unwrap_or("?").to_owned();
    let duration = (seconds_left + 60).clamp(900, 3600) as i32;
    let out = sts
        .assume_role()
        .role_arn(role)
        .role_session_name(session_name(job_id))
        .set_external_id(external_id.map(str::to_owned))
        .duration_seconds(duration)
        .send()
        .await
        .map_err(|e| {
            let source = AwsError::new(e);
            Error::AssumeRole(Box::new(AssumeRoleError {
                role: role.to_owned(),
                account: account.clone(),
                external_id: external_id.is_some(),
                caller: caller_role(&source.text).unwrap_or_else(|| "<the function's role ARN>".to_owned()),
                source,
            }))
        })?;
    let c = out.credentials().ok_or_else(|| {
        Error::AssumeRole(Box::new(AssumeRoleError {
            role: role.to_owned(),
            account,
            external_id: external_id.is_some(),
            caller: String::new(),
            source: AwsError::unexpected(crate::error::AwsErrorKind::Other, "STS answered without credentials"),
        }))
    })?;
    tracing::info!(role = %role, "assumed the target account's role");
    Ok(Credentials::new(
        c.access_key_id(),
        c.secret_access_key(),
        Some(c.session_token().to_owned()),
        std::time::SystemTime::try_from(*c.expiration()).ok(),
        "AssumeRole",
    ))
}

/// The caller's role, from STS's AccessDenied ("User: arn:aws:sts::1:assumed-role/<role>/<session> is not
/// authorized …").
fn caller_role(message: &str) -> Option<String> {
    let start = message.find("arn:aws")?;
    let arn = message[start..].split_whitespace().next()?;
    let mut parts = arn.splitn(6, ':');
    let (partition, account, resource) = (parts.nth(1)?, parts.nth(2)?, parts.next()?);
    let role = resource.strip_prefix("assumed-role/")?.split('/').next()?;
    Some(format!("arn:{partition}:iam::{account}:role/{role}"))
}

/// The function's AWS clients.
#[derive(Clone, Debug)]
pub struct Clients {
    /// The function's own account and region.
    pub home: Reach,
    pub pipeline: aws_sdk_codepipeline::Client,
    /// S3 settings without credentials of their own: every read uses the job's artifact credentials.
    s3: aws_sdk_s3::Config,
    /// STS, for the roles of targets in other accounts: built when a job first needs it (cold init builds none).
    sts: Option<aws_sdk_sts::Client>,
    sdk: Option<SdkConfig>,
}

/// The clients that act in one account and region: the function's own ([`Clients::home`]), or a target's.
#[derive(Clone, Debug)]
pub struct Reach {
    /// The account (`None`: the function's own) and region (`None`: the function's) they act in.
    pub account: Option<String>,
    pub region: Option<String>,
    pub ecs: aws_sdk_ecs::Client,
    /// EventBridge Scheduler (`schedules`) and EventBridge (`rules`) settings: their clients are built when a job
    /// uses them ([`Reach::scheduler`], [`Reach::events`]), never at start.
    scheduler: aws_sdk_scheduler::Config,
    events: aws_sdk_eventbridge::Config,
    /// ECR settings; each image is looked up in its own registry's region ([`Reach::ecr`]).
    ecr: aws_sdk_ecr::Config,
    /// CloudWatch Logs settings; a task's log is read in its awslogs region ([`Reach::logs`]).
    logs: aws_sdk_cloudwatchlogs::Config,
}

impl Reach {
    /// The same clients in another account (with the role's credentials) or region: each service's settings
    /// kept, the credentials and region replaced.
    fn elsewhere(&self, credentials: Option<Credentials>, access: &Access) -> Reach {
        if access.is_home() {
            return self.clone();
        }
        let region = access.region.clone().map(aws_config::Region::new);
        let provider = credentials.map(SharedCredentialsProvider::new);
        macro_rules! moved {
            ($config:expr) => {{
                let mut b = $config.to_builder();
                if let Some(r) = &region {
                    b = b.region(r.clone());
                }
                if let Some(p) = &provider {
                    b = b.credentials_provider(p.clone());
                }
                b.build()
            }};
        }
        Reach {
            account: access.account().map(str::to_owned),
            region: access.region.clone(),
            ecs: aws_sdk_ecs::Client::from_conf(moved!(self.ecs.config())),
            scheduler: moved!(self.scheduler),
            events: moved!(self.events),
            ecr: moved!(self.ecr),
            logs: moved!(self.logs),
        }
    }

    /// An ECR client for the registry's region (an image may live in another region than the function).
    pub fn ecr(&self, region: &str, fips: bool) -> aws_sdk_ecr::Client {
        let mut config = self.ecr.to_builder().region(aws_config::Region::new(region.to_owned()));
        if fips {
            config = config.use_fips(true);
        }
        aws_sdk_ecr::Client::from_conf(config.build())
    }

    /// An EventBridge Scheduler client.
    pub fn scheduler(&self) -> aws_sdk_scheduler::Client {
        aws_sdk_scheduler::Client::from_conf(self.scheduler.clone())
    }

    /// An EventBridge client.
    pub fn events(&self) -> aws_sdk_eventbridge::Client {
        aws_sdk_eventbridge::Client::from_conf(self.events.clone())
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
        let mut clients = Self::from_parts(
            aws_sdk_ecs::Client::new(config),
            aws_sdk_codepipeline::Client::new(config),
            config.into(),
            config.into(),
        )
        .with_logs(config.into())
        .with_schedule_configs(config.into(), config.into());
        clients.sdk = Some(config.clone());
        clients
    }

    /// These clients with an STS client (tests hand in a mocked one).
    pub fn with_sts(mut self, sts: aws_sdk_sts::Client) -> Self {
        self.sts = Some(sts);
        self
    }

    fn sts(&self) -> aws_sdk_sts::Client {
        match (&self.sts, &self.sdk) {
            (Some(sts), _) => sts.clone(),
            (None, Some(sdk)) => aws_sdk_sts::Client::new(sdk),
            (None, None) => aws_sdk_sts::Client::from_conf(
                aws_sdk_sts::Config::builder()
                    .behavior_version(BehaviorVersion::latest())
                    .region(self.home.ecs.config().region().cloned())
                    .build(),
            ),
        }
    }

    /// The clients of every target's account and region for one job: the function's own, or, for a target
    /// with `roleArn`, the role's (one AssumeRole per distinct role and external id, concurrently), in the
    /// target's region. Nothing is assumed for targets in the function's own account.
    pub async fn reaches(
        &self,
        targets: &[Access],
        job_id: &str,
        job_account: Option<&str>,
        guard: &crate::guard::Guard,
        seconds_left: u64,
    ) -> Result<Reaches, Error> {
        let mut distinct: Vec<Access> = targets.to_vec();
        distinct.sort();
        distinct.dedup();
        let mut roles: Vec<(String, Option<String>)> =
            distinct.iter().filter_map(|a| Some((a.role_arn.clone()?, a.external_id.clone()))).collect();
        roles.sort();
        roles.dedup();
        for (role, _) in &roles {
            guard.check_role(role)?;
        }
        let sts = if roles.is_empty() { None } else { Some(self.sts()) };
        let assumed = futures_util::future::join_all(roles.iter().map(|(role, external)| {
            let sts = sts.clone();
            async move {
                assume(sts.as_ref().expect("built for roles"), role, external.as_deref(), job_id, seconds_left).await
            }
        }))
        .await;
        let mut credentials = Vec::new();
        for (key, result) in roles.into_iter().zip(assumed) {
            credentials.push((key, result?));
        }
        let mut reaches = Vec::new();
        for access in &distinct {
            let creds = access
                .role_arn
                .as_ref()
                .and_then(|r| credentials.iter().find(|((role, ext), _)| role == r && *ext == access.external_id))
                .map(|(_, c)| c.clone());
            reaches.push((access.clone(), self.home.elsewhere(creds, access)));
        }
        let per_target = targets.iter().map(|a| distinct.iter().position(|d| d == a).unwrap_or(0)).collect();
        Ok(Reaches {
            home: self.home.clone(),
            reaches,
            per_target,
            home_account: job_account.map(str::to_owned),
            home_region: self.home.ecs.config().region().map(|r| r.to_string()),
        })
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
        // Stand-ins until `with_logs`/`with_schedules`, on the ECS client's HTTP client: a client built without
        // one would build the SDK's default HTTPS client, loading the root certificates at cold start.
        let http = ecs.config().http_client();
        let mut logs = aws_sdk_cloudwatchlogs::Config::builder().behavior_version(unset).region(region.clone());
        logs.set_http_client(http.clone());
        let mut scheduler = aws_sdk_scheduler::Config::builder().behavior_version(unset).region(region.clone());
        scheduler.set_http_client(http.clone());
        let mut events = aws_sdk_eventbridge::Config::builder().behavior_version(unset).region(region);
        events.set_http_client(http);
        let home = Reach {
            account: None,
            region: None,
            ecs,
            ecr,
            logs: logs.build(),
            scheduler: scheduler.build(),
            events: events.build(),
        };
        Self { home, pipeline: aws_sdk_codepipeline::Client::from_conf(pipeline), s3, sts: None, sdk: None }
    }

    /// These clients with CloudWatch Logs settings (tests hand in mocked ones).
    pub fn with_logs(mut self, logs: aws_sdk_cloudwatchlogs::Config) -> Self {
        self.home.logs = logs;
        self
    }

    /// These clients with EventBridge Scheduler and EventBridge clients (tests hand in mocked ones).
    pub fn with_schedules(self, scheduler: aws_sdk_scheduler::Client, events: aws_sdk_eventbridge::Client) -> Self {
        self.with_schedule_configs(scheduler.config().clone(), events.config().clone())
    }

    fn with_schedule_configs(
        mut self,
        scheduler: aws_sdk_scheduler::Config,
        events: aws_sdk_eventbridge::Config,
    ) -> Self {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A client built without an HTTP client builds the SDK's default one, which loads the root certificates:
    /// every client made at start must share the one given (the cold start stays free of that load).
    #[test]
    fn clients_made_at_start_share_the_given_http_client() {
        let http = SharedHttpClient::new(DeferredTls(https_client()));
        let ecs = aws_sdk_ecs::Client::from_conf(
            aws_sdk_ecs::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(aws_config::Region::new("us-east-1"))
                .http_client(http.clone())
                .build(),
        );
        let clients = Clients::from_parts(
            ecs,
            aws_sdk_codepipeline::Client::from_conf(
                aws_sdk_codepipeline::Config::builder()
                    .behavior_version(BehaviorVersion::latest())
                    .http_client(http.clone())
                    .build(),
            ),
            aws_sdk_s3::Config::builder().behavior_version(BehaviorVersion::latest()).build(),
            aws_sdk_ecr::Config::builder().behavior_version(BehaviorVersion::latest()).build(),
        );
        assert!(clients.home.logs.http_client().is_some());
        assert!(clients.home.scheduler.http_client().is_some());
        assert!(clients.home.events.http_client().is_some());
        assert!(clients.pipeline.config().http_client().is_some());
    }

    #[test]
    fn session_names_hold_the_job_in_sts_characters() {
        let job = "0b6a3e52-5f43-4d7e-9d64-1c2f3a4b5c6d";
        assert_eq!(session_name(job), format!("codepipeline-{job}"));
        let odd = session_name(&format!("a b/c*{}", "x".repeat(100)));
        assert_eq!(odd.len(), 64);
        assert!(odd.starts_with("codepipeline-a-b-c-"), "{odd}");
        assert!(odd.chars().all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c)));
    }

    #[test]
    fn the_caller_role_from_sts_access_denied() {
        let message = "AccessDenied: User: arn:aws:sts::123456789012:assumed-role/ecs-deployer-role/ecs-deployer is \
                       not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::210987654321:role/x";
        assert_eq!(caller_role(message).as_deref(), Some("arn:aws:iam::123456789012:role/ecs-deployer-role"));
        assert_eq!(caller_role("AccessDenied: not authorized"), None);
    }
}
