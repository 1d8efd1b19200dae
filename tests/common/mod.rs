//! Test support: a fake AWS world served through `aws-smithy-mocks` rules on real SDK clients, so that our
//! request building is exercised and what we sent can be asserted.
#![allow(dead_code)]

use std::fmt;
use std::io::Write;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_codepipeline::operation::put_job_failure_result::{PutJobFailureResultInput, PutJobFailureResultOutput};
use aws_sdk_codepipeline::operation::put_job_success_result::{PutJobSuccessResultInput, PutJobSuccessResultOutput};
use aws_sdk_ecr::operation::describe_images::{DescribeImagesError, DescribeImagesInput, DescribeImagesOutput};
use aws_sdk_ecr::types::ImageDetail;
use aws_sdk_ecr::types::error::{ImageNotFoundException, RepositoryNotFoundException};
use aws_sdk_ecs::operation::continue_service_deployment::{
    ContinueServiceDeploymentInput, ContinueServiceDeploymentOutput,
};
use aws_sdk_ecs::operation::describe_service_deployments::DescribeServiceDeploymentsOutput;
use aws_sdk_ecs::operation::describe_service_revisions::DescribeServiceRevisionsOutput;
use aws_sdk_ecs::operation::describe_services::DescribeServicesOutput;
use aws_sdk_ecs::operation::describe_task_definition::DescribeTaskDefinitionOutput;
use aws_sdk_ecs::operation::describe_tasks::DescribeTasksOutput;
use aws_sdk_ecs::operation::list_service_deployments::ListServiceDeploymentsOutput;
use aws_sdk_ecs::operation::list_task_definitions::ListTaskDefinitionsOutput;
use aws_sdk_ecs::operation::list_tasks::ListTasksOutput;
use aws_sdk_ecs::operation::register_task_definition::{RegisterTaskDefinitionInput, RegisterTaskDefinitionOutput};
use aws_sdk_ecs::operation::stop_service_deployment::{StopServiceDeploymentInput, StopServiceDeploymentOutput};
use aws_sdk_ecs::operation::update_service::{UpdateServiceInput, UpdateServiceOutput};
use aws_sdk_ecs::types::{
    ContainerDefinition, ContainerImage, Deployment, DeploymentConfiguration, DeploymentRolloutState,
    DeploymentStrategy, Service, ServiceDeployment, ServiceDeploymentLifecycleStage, ServiceDeploymentStatus,
    ServiceEvent, ServiceRevision, ServiceRevisionSummary, Tag, Task, TaskDefinition, TaskDefinitionStatus,
};
use aws_sdk_s3::operation::get_object::GetObjectOutput;
use aws_sdk_s3::primitives::ByteStream;
use aws_smithy_mocks::{MockResponse, Rule, RuleMode, mock, mock_client};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::http::{
    HttpConnector, HttpConnectorFuture, SharedHttpClient, SharedHttpConnector, http_client_fn,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::ConfigBag;
use ecs_deployer::{Clients, Handler};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::Value;

pub const JOB_ID: &str = "0b6a3e52-5f43-4d7e-9d64-1c2f3a4b5c6d";
pub const ARTIFACT_KEY_ID: &str = "AKIAIOSFODNN7EXAMPLE";
pub const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
pub const SESSION_TOKEN: &str = "FAKE-SESSION-TOKEN-for-local-examples-only";
pub const CLUSTER_ARN: &str = "arn:aws:ecs:us-east-1:123456789012:cluster/demo";
pub const SERVICE_ARN: &str = "arn:aws:ecs:us-east-1:123456789012:service/demo/web";
pub const TD_ARN: &str = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:7";
pub const NEW_TD_ARN: &str = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:8";
pub const OLD_IMAGE: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com/web:1111111";
pub const NEW_IMAGE: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com/web:2222222";
pub const OLD_DEPLOYMENT: &str = "ecs-svc/1000000000000000001";
pub const NEW_DEPLOYMENT: &str = "ecs-svc/2000000000000000002";
pub const OLD_SD_ARN: &str = "arn:aws:ecs:us-east-1:123456789012:service-deployment/demo/web/OldOldOldOldOldOldOld";
pub const NEW_SD_ARN: &str = "arn:aws:ecs:us-east-1:123456789012:service-deployment/demo/web/NewNewNewNewNewNewNew";
pub const NEW_REVISION_ARN: &str = "arn:aws:ecs:us-east-1:123456789012:service-revision/demo/web/2000000000000000002";
pub const OLD_REVISION_ARN: &str = "arn:aws:ecs:us-east-1:123456789012:service-revision/demo/web/1000000000000000001";
pub const DIGEST: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
pub const OLD_DIGEST: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

/// A sample event from `events/`.
pub fn sample_event(name: &str) -> Value {
    let path = format!("{}/events/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).expect("sample event")).expect("sample event JSON")
}

/// A continuation token of an action on `demo/web`, read as the function reads it.
pub fn tracker(text: &str) -> ecs_deployer::token::Tracker {
    ecs_deployer::token::Tracker::decode(text, &[ecs_deployer::config::Target::named("demo", "web")]).unwrap()
}

/// The service deployment a token of an action on `demo/web` follows.
pub fn followed(text: &str) -> String {
    tracker(text).deployment_arn(0, &[ecs_deployer::config::Target::named("demo", "web")]).unwrap()
}

/// Asserts that `text` says every one of `parts`, naming the first it lacks.
pub fn assert_says(text: &str, parts: &[&str]) {
    for part in parts {
        assert!(text.contains(part), "{text:?} lacks {part:?}");
    }
}

/// `events/deploy.json` with other UserParameters.
pub fn deploy_event(user_parameters: &str) -> Value {
    let mut event = sample_event("deploy.json");
    event["CodePipeline.job"]["data"]["actionConfiguration"]["configuration"]["UserParameters"] =
        user_parameters.into();
    event
}

/// `events/continuation.json` carrying `token`, with job id `job_id`.
pub fn continuation_event(job_id: &str, token: &str) -> Value {
    let mut event = sample_event("continuation.json");
    event["CodePipeline.job"]["id"] = job_id.into();
    event["CodePipeline.job"]["data"]["continuationToken"] = token.into();
    event
}

pub fn invocation(payload: Value) -> LambdaEvent<Value> {
    LambdaEvent::new(payload, Context::default())
}

/// A zip of `(name, content, deflate?)` entries, written by the `zip` crate (an independent writer).
pub fn zip_of(entries: &[(&str, &[u8], bool)]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, content, deflate) in entries {
        let method = if *deflate { zip::CompressionMethod::Deflated } else { zip::CompressionMethod::Stored };
        let options = zip::write::SimpleFileOptions::default().compression_method(method);
        writer.start_file(*name, options).unwrap();
        writer.write_all(content).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

pub fn image_definitions(entries: &[(&str, &str)]) -> Vec<u8> {
    let list: Vec<Value> = entries.iter().map(|(n, i)| serde_json::json!({"name": n, "imageUri": i})).collect();
    serde_json::to_vec(&list).unwrap()
}

/// The artifact most tests deploy: `imagedefinitions.json` naming `web` with the new image.
pub fn standard_archive() -> Vec<u8> {
    zip_of(&[
        ("README.md", b"# app\n", true),
        ("imagedefinitions.json", &image_definitions(&[("web", NEW_IMAGE)]), true),
    ])
}

pub fn task_definition(containers: &[(&str, &str)]) -> TaskDefinition {
    TaskDefinition::builder()
        .task_definition_arn(TD_ARN)
        .family("web")
        .revision(7)
        .status(TaskDefinitionStatus::Active)
        .set_container_definitions(Some(
            containers
                .iter()
                .map(|(n, i)| ContainerDefinition::builder().name(*n).image(*i).essential(true).build())
                .collect(),
        ))
        .build()
}

pub fn deployment(
    id: &str,
    status: &str,
    td: &str,
    state: DeploymentRolloutState,
    running: i32,
    desired: i32,
) -> Deployment {
    Deployment::builder()
        .id(id)
        .status(status)
        .task_definition(td)
        .rollout_state(state)
        .running_count(running)
        .desired_count(desired)
        .build()
}

pub fn service(td: &str, deployments: Vec<Deployment>) -> Service {
    Service::builder()
        .service_name("web")
        .service_arn(SERVICE_ARN)
        .cluster_arn(CLUSTER_ARN)
        .status("ACTIVE")
        .task_definition(td)
        .desired_count(2)
        .running_count(2)
        .set_deployments(Some(deployments))
        .build()
}

pub fn steady_service() -> Service {
    service(TD_ARN, vec![deployment(OLD_DEPLOYMENT, "PRIMARY", TD_ARN, DeploymentRolloutState::Completed, 2, 2)])
}

/// Everything the function sent, by operation.
#[derive(Default, Clone)]
pub struct Sent {
    pub registered: Arc<Mutex<Vec<RegisterTaskDefinitionInput>>>,
    pub updated: Arc<Mutex<Vec<UpdateServiceInput>>>,
    pub successes: Arc<Mutex<Vec<PutJobSuccessResultInput>>>,
    pub failures: Arc<Mutex<Vec<PutJobFailureResultInput>>>,
    pub s3_ranges: Arc<Mutex<Vec<String>>>,
    pub stopped: Arc<Mutex<Vec<StopServiceDeploymentInput>>>,
    pub continued: Arc<Mutex<Vec<ContinueServiceDeploymentInput>>>,
    pub deregistered: Arc<Mutex<Vec<String>>>,
    /// ECR DescribeImages requests, with the host each was sent to (the registry's region).
    pub ecr_lookups: Arc<Mutex<Vec<DescribeImagesInput>>>,
    pub ecr_hosts: Hosts,
    /// The access key id that signed each S3 request, and each ECS request.
    pub s3_signers: Signers,
    pub ecs_signers: Signers,
    /// The service as the last UpdateService left it (what DescribeServices answers then).
    pub current: Arc<Mutex<Option<Service>>>,
    /// Every ECS, ECR, S3 and CodePipeline operation sent, in order.
    pub order: Recorded<Operation>,
    /// STS AssumeRole requests (targets in other accounts), and the host each ECS request went to.
    pub assumed: Arc<Mutex<Vec<aws_sdk_sts::operation::assume_role::AssumeRoleInput>>>,
    pub ecs_hosts: Hosts,
}

impl Sent {
    pub fn registered(&self) -> Vec<RegisterTaskDefinitionInput> {
        self.registered.lock().unwrap().clone()
    }
    pub fn updated(&self) -> Vec<UpdateServiceInput> {
        self.updated.lock().unwrap().clone()
    }
    pub fn stopped(&self) -> Vec<StopServiceDeploymentInput> {
        self.stopped.lock().unwrap().clone()
    }
    pub fn ecr_lookups(&self) -> Vec<DescribeImagesInput> {
        self.ecr_lookups.lock().unwrap().clone()
    }
    pub fn continued(&self) -> Vec<ContinueServiceDeploymentInput> {
        self.continued.lock().unwrap().clone()
    }
    pub fn successes(&self) -> Vec<PutJobSuccessResultInput> {
        self.successes.lock().unwrap().clone()
    }
    pub fn failures(&self) -> Vec<PutJobFailureResultInput> {
        self.failures.lock().unwrap().clone()
    }
    pub fn reports(&self) -> usize {
        self.successes.lock().unwrap().len() + self.failures.lock().unwrap().len()
    }
    /// The one failure report: its type and message.
    pub fn only_failure(&self) -> (String, String) {
        let failures = self.failures();
        assert_eq!((failures.len(), self.successes().len()), (1, 0), "expected exactly one failure report");
        let details = failures[0].failure_details().unwrap();
        (details.r#type().as_str().to_owned(), details.message().to_owned())
    }
    pub fn only_success(&self) -> PutJobSuccessResultInput {
        let successes = self.successes();
        assert_eq!((successes.len(), self.failures().len()), (1, 0), "expected exactly one success report");
        successes[0].clone()
    }
}

/// Records one thing of each request a client sends, as `P` reads it.
#[derive(Debug)]
pub struct Recorded<P>(pub Arc<Mutex<Vec<String>>>, PhantomData<P>);

/// The access key id that signed a request (from the SigV4 Authorization header).
pub type Signers = Recorded<Signer>;
/// The host a request went to.
pub type Hosts = Recorded<Host>;

/// What a [`Recorded`] reads from a request.
pub trait Part: Send + Sync + fmt::Debug + 'static {
    const NAME: &'static str;
    fn read(request: &HttpRequest) -> String;
}

#[derive(Debug)]
pub struct Signer;
#[derive(Debug)]
pub struct Operation;

impl Part for Operation {
    const NAME: &'static str = "Operations";
    fn read(request: &HttpRequest) -> String {
        // JSON protocols name the operation in X-Amz-Target; S3 by method.
        match request.headers().get("x-amz-target") {
            Some(target) => target.rsplit('.').next().unwrap_or(target).to_owned(),
            None => format!("s3:{}", request.method()),
        }
    }
}
#[derive(Debug)]
pub struct Host;

impl Part for Signer {
    const NAME: &'static str = "Signers";
    fn read(request: &HttpRequest) -> String {
        let auth = request.headers().get("authorization").unwrap_or("unsigned");
        auth.split("Credential=").nth(1).and_then(|c| c.split('/').next()).unwrap_or("unsigned").to_owned()
    }
}

impl Part for Host {
    const NAME: &'static str = "Hosts";
    fn read(request: &HttpRequest) -> String {
        let uri = request.uri();
        uri.split("://").nth(1).and_then(|rest| rest.split('/').next()).unwrap_or(uri).to_owned()
    }
}

impl<P> Default for Recorded<P> {
    fn default() -> Self {
        Self(Arc::default(), PhantomData)
    }
}

impl<P> Clone for Recorded<P> {
    fn clone(&self) -> Self {
        Self(self.0.clone(), PhantomData)
    }
}

impl<P> Recorded<P> {
    pub fn all(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

impl<P: Part> Intercept for Recorded<P> {
    fn name(&self) -> &'static str {
        P::NAME
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.lock().unwrap().push(P::read(context.request()));
        Ok(())
    }
}

/// One image in the fake ECR (every registry and region serves the same repositories).
#[derive(Clone, Debug)]
pub struct EcrImage {
    pub repository: String,
    pub tags: Vec<String>,
    pub digest: String,
    pub pushed: i64,
}

impl EcrImage {
    pub fn new(repository: &str, tags: &[&str], digest: &str, pushed: i64) -> Self {
        Self {
            repository: repository.into(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            digest: digest.into(),
            pushed,
        }
    }
}

/// The state the fake AWS serves.
#[derive(Clone)]
pub struct World {
    pub archive: Vec<u8>,
    pub service: Service,
    pub task_definition: TaskDefinition,
    pub tags: Vec<Tag>,
    /// Answers to DescribeServices on continuation invocations (the last repeats).
    pub rollout: Vec<Service>,
    /// Answers to DescribeServiceDeployments (the last repeats).
    pub service_deployments: Vec<ServiceDeployment>,
    /// ListTaskDefinitions' answer (newest first).
    pub revisions: Vec<String>,
    pub stopped_tasks: Vec<Task>,
    /// The images ECR holds: by default the old and the new `web` image.
    pub ecr: Vec<EcrImage>,
    /// Rules tried before the standard ones (faults, odd answers).
    pub overrides: Vec<Op>,
    /// Delay every ECS answer by this much (tokio time).
    pub ecs_delay: Option<Duration>,
    /// Delay every CodePipeline answer by this much (tokio time).
    pub pipeline_delay: Option<Duration>,
    /// Report first, then change (the function's default). Off by default here: these tests look at what one
    /// job sends; `tests/report_first.rs` and the integration tests look at the protocol.
    pub report_first: bool,
    /// STS refuses AssumeRole (the target role's trust policy does not name the function's role).
    pub sts_denied: bool,
}

/// A rule for one of the three services.
#[derive(Clone)]
pub enum Op {
    S3(Rule),
    Ecs(Rule),
    Pipeline(Rule),
    Ecr(Rule),
}

impl Default for World {
    fn default() -> Self {
        Self {
            archive: standard_archive(),
            service: steady_service(),
            task_definition: task_definition(&[
                ("web", OLD_IMAGE),
                ("log-router", "public.ecr.aws/aws-observability/aws-for-fluent-bit:stable"),
            ]),
            tags: vec![Tag::builder().key("team").value("payments").build()],
            rollout: Vec::new(),
            service_deployments: Vec::new(),
            revisions: vec![TD_ARN.into()],
            stopped_tasks: Vec::new(),
            ecr: vec![
                EcrImage::new("web", &["1111111"], OLD_DIGEST, 1_700_000_000),
                EcrImage::new("web", &["2222222"], DIGEST, 1_700_000_600),
            ],
            overrides: Vec::new(),
            ecs_delay: None,
            pipeline_delay: None,
            report_first: false,
            sts_denied: false,
        }
    }
}

impl World {
    /// A handler with allow-lists on the same mocked world, recording into `sent`.
    pub fn handler_with_guard(&self, guard: ecs_deployer::guard::Guard, sent: &Sent) -> Handler {
        let (clients, _) = self.clients(sent.clone());
        Handler::with_settings(clients, guard, self.protocol())
    }

    /// The handler wired to mocked clients, and the record of what it sends.
    pub fn handler(&self) -> (Handler, Sent) {
        let sent = Sent::default();
        let (clients, sent) = self.clients(sent);
        (Handler::with_settings(clients, ecs_deployer::guard::Guard::default(), self.protocol()), sent)
    }

    fn protocol(&self) -> ecs_deployer::engine::announce::Protocol {
        ecs_deployer::engine::announce::Protocol::new(self.report_first)
    }

    /// Mocked clients recording into `sent`.
    fn clients(&self, sent: Sent) -> (Clients, Sent) {
        let mut s3_rules = Vec::new();
        let mut ecs_rules = Vec::new();
        let mut pipeline_rules = Vec::new();
        let mut ecr_rules = Vec::new();
        for op in &self.overrides {
            match op {
                Op::S3(r) => s3_rules.push(r.clone()),
                Op::Ecs(r) => ecs_rules.push(r.clone()),
                Op::Pipeline(r) => pipeline_rules.push(r.clone()),
                Op::Ecr(r) => ecr_rules.push(r.clone()),
            }
        }
        ecr_rules.push(ecr_describe_images(self.ecr.clone(), sent.ecr_lookups.clone()));

        let archive = Arc::new(self.archive.clone());
        let ranges = sent.s3_ranges.clone();
        s3_rules.push(mock!(aws_sdk_s3::Client::get_object).then_compute_output(move |req| {
            let range = req.range().unwrap_or("").to_owned();
            ranges.lock().unwrap().push(range.clone());
            serve_range(&archive, &range)
        }));

        // Without a rollout to play, the service is as the last UpdateService left it.
        let (service, current) = (self.service.clone(), sent.current.clone());
        let first = mock!(aws_sdk_ecs::Client::describe_services)
            .match_requests(|r| r.services().len() == 1)
            .sequence()
            .output(move || {
                let now = current.lock().unwrap().clone().unwrap_or_else(|| service.clone());
                DescribeServicesOutput::builder().services(now).build()
            });
        ecs_rules.push(if self.rollout.is_empty() { first.repeatedly().build() } else { first.times(1).build() });
        for (i, answer) in self.rollout.iter().enumerate() {
            let answer = answer.clone();
            let rule = mock!(aws_sdk_ecs::Client::describe_services)
                .sequence()
                .output(move || DescribeServicesOutput::builder().services(answer.clone()).build());
            ecs_rules.push(if i + 1 == self.rollout.len() { rule.repeatedly().build() } else { rule.build() });
        }
        let (td, tags) = (self.task_definition.clone(), self.tags.clone());
        ecs_rules.push(mock!(aws_sdk_ecs::Client::describe_task_definition).then_output(move || {
            DescribeTaskDefinitionOutput::builder().task_definition(td.clone()).set_tags(Some(tags.clone())).build()
        }));
        let registered = sent.registered.clone();
        ecs_rules.push(mock!(aws_sdk_ecs::Client::register_task_definition).then_compute_output(move |req| {
            registered.lock().unwrap().push(req.clone());
            let arn = format!("arn:aws:ecs:us-east-1:123456789012:task-definition/{}:8", req.family().unwrap_or("?"));
            RegisterTaskDefinitionOutput::builder()
                .task_definition(TaskDefinition::builder().task_definition_arn(arn).revision(8).build())
                .build()
        }));
        let (updated, base, current) = (sent.updated.clone(), self.service.clone(), sent.current.clone());
        ecs_rules.push(mock!(aws_sdk_ecs::Client::update_service).then_compute_output(move |req| {
            updated.lock().unwrap().push(req.clone());
            let td = req.task_definition().unwrap_or_default().to_owned();
            let primary = deployment(NEW_DEPLOYMENT, "PRIMARY", &td, DeploymentRolloutState::InProgress, 0, 2);
            let mut deployments = vec![primary];
            deployments.extend(base.deployments().iter().cloned().map(|mut d| {
                d.status = Some("ACTIVE".into());
                d
            }));
            let mut service = service_with(&base, &td, deployments);
            service.current_service_deployment = Some(NEW_SD_ARN.into());
            *current.lock().unwrap() = Some(service.clone());
            UpdateServiceOutput::builder().service(service).build()
        }));
        let revisions = self.revisions.clone();
        ecs_rules.push(mock!(aws_sdk_ecs::Client::list_task_definitions).then_output(move || {
            ListTaskDefinitionsOutput::builder().set_task_definition_arns(Some(revisions.clone())).build()
        }));
        let deregistered = sent.deregistered.clone();
        ecs_rules.push(mock!(aws_sdk_ecs::Client::deregister_task_definition).then_compute_output(move |req| {
            deregistered.lock().unwrap().push(req.task_definition().unwrap_or_default().to_owned());
            aws_sdk_ecs::operation::deregister_task_definition::DeregisterTaskDefinitionOutput::builder().build()
        }));
        for (i, answer) in self.service_deployments.iter().enumerate() {
            let answer = answer.clone();
            let rule = mock!(aws_sdk_ecs::Client::describe_service_deployments).sequence().output(move || {
                DescribeServiceDeploymentsOutput::builder().service_deployments(answer.clone()).build()
            });
            let last = i + 1 == self.service_deployments.len();
            ecs_rules.push(if last { rule.repeatedly().build() } else { rule.build() });
        }
        ecs_rules.push(mock!(aws_sdk_ecs::Client::describe_service_revisions).then_compute_output(|req| {
            let revisions = req
                .service_revision_arns()
                .iter()
                .map(|arn| {
                    ServiceRevision::builder()
                        .service_revision_arn(arn)
                        .task_definition(if arn == OLD_REVISION_ARN { TD_ARN } else { NEW_TD_ARN })
                        .container_images(
                            ContainerImage::builder()
                                .container_name("web")
                                .image(NEW_IMAGE)
                                .image_digest(DIGEST)
                                .build(),
                        )
                        .build()
                })
                .collect();
            DescribeServiceRevisionsOutput::builder().set_service_revisions(Some(revisions)).build()
        }));
        let continues = sent.continued.clone();
        ecs_rules.push(mock!(aws_sdk_ecs::Client::continue_service_deployment).then_compute_output(move |req| {
            continues.lock().unwrap().push(req.clone());
            ContinueServiceDeploymentOutput::builder()
                .service_deployment_arn(req.service_deployment_arn().unwrap_or_default())
                .build()
        }));
        ecs_rules.push(mock!(aws_sdk_ecs::Client::list_service_deployments).then_output(|| {
            ListServiceDeploymentsOutput::builder()
                .service_deployments(
                    aws_sdk_ecs::types::ServiceDeploymentBrief::builder()
                        .service_deployment_arn(NEW_SD_ARN)
                        .status(ServiceDeploymentStatus::Successful)
                        .target_service_revision_arn(NEW_REVISION_ARN)
                        .build(),
                )
                .build()
        }));
        let stops = sent.stopped.clone();
        ecs_rules.push(mock!(aws_sdk_ecs::Client::stop_service_deployment).then_compute_output(move |req| {
            stops.lock().unwrap().push(req.clone());
            StopServiceDeploymentOutput::builder()
                .service_deployment_arn(req.service_deployment_arn().unwrap_or_default())
                .build()
        }));
        let stopped = self.stopped_tasks.clone();
        let arns: Vec<String> = stopped.iter().filter_map(|t| t.task_arn().map(str::to_owned)).collect();
        ecs_rules.push(
            mock!(aws_sdk_ecs::Client::list_tasks)
                .then_output(move || ListTasksOutput::builder().set_task_arns(Some(arns.clone())).build()),
        );
        ecs_rules.push(
            mock!(aws_sdk_ecs::Client::describe_tasks)
                .then_output(move || DescribeTasksOutput::builder().set_tasks(Some(stopped.clone())).build()),
        );

        let successes = sent.successes.clone();
        pipeline_rules.push(mock!(aws_sdk_codepipeline::Client::put_job_success_result).then_compute_output(
            move |req| {
                successes.lock().unwrap().push(req.clone());
                PutJobSuccessResultOutput::builder().build()
            },
        ));
        let failures = sent.failures.clone();
        pipeline_rules.push(mock!(aws_sdk_codepipeline::Client::put_job_failure_result).then_compute_output(
            move |req| {
                failures.lock().unwrap().push(req.clone());
                PutJobFailureResultOutput::builder().build()
            },
        ));

        let s3_signers = sent.s3_signers.clone();
        let order = sent.order.clone();
        let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, &s3_rules, |c| c
            .interceptor(s3_signers.clone())
            .interceptor(order.clone()));
        let (ecs_signers, delay, ecs_hosts) = (sent.ecs_signers.clone(), self.ecs_delay, sent.ecs_hosts.clone());
        let ecs = mock_client!(aws_sdk_ecs, RuleMode::MatchAny, &ecs_rules, |c| {
            let c = c.interceptor(ecs_signers.clone()).interceptor(order.clone()).interceptor(ecs_hosts.clone());
            match delay {
                Some(d) => c.http_client(slow_http_client(d)),
                None => c,
            }
        });
        let pipeline_delay = self.pipeline_delay;
        let pipeline = mock_client!(aws_sdk_codepipeline, RuleMode::MatchAny, &pipeline_rules, |c| {
            let c = c.interceptor(order.clone());
            match pipeline_delay {
                Some(d) => c.http_client(slow_http_client(d)),
                None => c,
            }
        });
        let ecr_hosts = sent.ecr_hosts.clone();
        let ecr = mock_client!(aws_sdk_ecr, RuleMode::MatchAny, &ecr_rules, |c| c.interceptor(ecr_hosts.clone()));
        let assumed = sent.assumed.clone();
        let denied = self.sts_denied;
        let sts_rule = mock!(aws_sdk_sts::Client::assume_role).then_compute_response(move |req| {
            assumed.lock().unwrap().push(req.clone());
            if denied {
                return MockResponse::Error(aws_sdk_sts::operation::assume_role::AssumeRoleError::generic(
                    aws_smithy_types::error::ErrorMetadata::builder()
                        .code("AccessDenied")
                        .message(format!(
                            "User: arn:aws:sts::123456789012:assumed-role/ecs-deployer-role/ecs-deployer is not \
                             authorized to perform: sts:AssumeRole on resource: {}",
                            req.role_arn().unwrap_or_default()
                        ))
                        .build(),
                ));
            }
            let account = req.role_arn().unwrap_or_default().split(':').nth(4).unwrap_or_default().to_owned();
            MockResponse::Output(
                aws_sdk_sts::operation::assume_role::AssumeRoleOutput::builder()
                    .credentials(
                        aws_sdk_sts::types::Credentials::builder()
                            .access_key_id(format!("ASIA{account}"))
                            .secret_access_key("assumed-secret")
                            .session_token("assumed-token")
                            .expiration(aws_smithy_types::DateTime::from_secs(4_000_000_000))
                            .build()
                            .unwrap(),
                    )
                    .build(),
            )
        });
        let sts = mock_client!(aws_sdk_sts, RuleMode::MatchAny, &[&sts_rule]);
        (Clients::from_parts(ecs, pipeline, s3.config().clone(), ecr.config().clone()).with_sts(sts), sent)
    }
}

/// ECR's DescribeImages over `images` (API_DescribeImages: with imageIds, each must exist or the call fails
/// with ImageNotFoundException; without, every image of the repository, here all at once).
fn ecr_describe_images(images: Vec<EcrImage>, lookups: Arc<Mutex<Vec<DescribeImagesInput>>>) -> Rule {
    mock!(aws_sdk_ecr::Client::describe_images).then_compute_response(move |req| {
        lookups.lock().unwrap().push(req.clone());
        let repository = req.repository_name().unwrap_or_default();
        let held: Vec<&EcrImage> = images.iter().filter(|i| i.repository == repository).collect();
        if held.is_empty() {
            return MockResponse::Error(DescribeImagesError::RepositoryNotFoundException(
                RepositoryNotFoundException::builder()
                    .message(format!("The repository with name '{repository}' does not exist"))
                    .build(),
            ));
        }
        let detail = |i: &EcrImage| {
            ImageDetail::builder()
                .repository_name(repository)
                .image_digest(&i.digest)
                .set_image_tags(Some(i.tags.clone()))
                .image_pushed_at(aws_smithy_types::DateTime::from_secs(i.pushed))
                .build()
        };
        let details: Vec<ImageDetail> = match req.image_ids() {
            [] => held.iter().map(|i| detail(i)).collect(),
            ids => {
                let mut found = Vec::new();
                for id in ids {
                    let hit = held.iter().find(|i| {
                        id.image_tag().is_none_or(|t| i.tags.iter().any(|x| x == t))
                            && id.image_digest().is_none_or(|d| i.digest == d)
                    });
                    match hit {
                        Some(i) => found.push(detail(i)),
                        None => {
                            return MockResponse::Error(DescribeImagesError::ImageNotFoundException(
                                ImageNotFoundException::builder().message("The image requested does not exist").build(),
                            ));
                        }
                    }
                }
                found
            }
        };
        MockResponse::Output(DescribeImagesOutput::builder().set_image_details(Some(details)).build())
    })
}

/// A service deployment of `web:8` replacing `web:7`, as DescribeServiceDeployments shows it.
pub fn service_deployment(
    strategy: &str,
    status: &str,
    stage: &str,
    running: i32,
    production: f64,
) -> ServiceDeployment {
    ServiceDeployment::builder()
        .service_deployment_arn(NEW_SD_ARN)
        .service_arn(SERVICE_ARN)
        .cluster_arn(CLUSTER_ARN)
        .status(ServiceDeploymentStatus::from(status))
        .lifecycle_stage(ServiceDeploymentLifecycleStage::from(stage))
        .deployment_configuration(
            DeploymentConfiguration::builder()
                .strategy(DeploymentStrategy::from(strategy))
                .bake_time_in_minutes(10)
                .build(),
        )
        .target_service_revision(
            ServiceRevisionSummary::builder()
                .arn(NEW_REVISION_ARN)
                .requested_task_count(4)
                .running_task_count(running)
                .requested_production_traffic_weight(production)
                .build(),
        )
        .source_service_revisions(
            ServiceRevisionSummary::builder().arn(OLD_REVISION_ARN).requested_task_count(0).build(),
        )
        .build()
}

/// `value` changed by `change` (SDK types are non-exhaustive: no struct update syntax).
pub fn with<T>(mut value: T, change: impl FnOnce(&mut T)) -> T {
    change(&mut value);
    value
}

pub fn service_with(base: &Service, td: &str, deployments: Vec<Deployment>) -> Service {
    let mut s = base.clone();
    s.task_definition = Some(td.to_owned());
    s.deployments = Some(deployments);
    s
}

/// A GetObject answer for a `Range` header, as S3 gives it (206 with Content-Range).
fn serve_range(archive: &[u8], range: &str) -> GetObjectOutput {
    let size = archive.len() as u64;
    let spec = range.strip_prefix("bytes=").expect("ranged GETs only");
    let (start, end) = match spec.split_once('-').unwrap() {
        ("", suffix) => (size.saturating_sub(suffix.parse().unwrap()), size - 1),
        (first, "") => (first.parse().unwrap(), size - 1),
        (first, last) => (first.parse().unwrap(), last.parse::<u64>().unwrap().min(size - 1)),
    };
    let body = archive[start as usize..=end as usize].to_vec();
    GetObjectOutput::builder()
        .content_range(format!("bytes {start}-{end}/{size}"))
        .content_length(body.len() as i64)
        .body(ByteStream::from(body))
        .build()
}

/// An HTTP client that answers after `delay` (tokio time); the mock rules then supply the modeled answer.
fn slow_http_client(delay: Duration) -> SharedHttpClient {
    #[derive(Debug)]
    struct Slow(Duration);
    impl HttpConnector for Slow {
        fn call(&self, _: HttpRequest) -> HttpConnectorFuture {
            let delay = self.0;
            HttpConnectorFuture::new(async move {
                tokio::time::sleep(delay).await;
                Ok(aws_smithy_runtime_api::http::Response::new(200.try_into().unwrap(), SdkBody::from("{}")))
            })
        }
    }
    http_client_fn(move |_, _| SharedHttpConnector::new(Slow(delay)))
}

pub fn service_event(secs: i64, message: &str) -> ServiceEvent {
    ServiceEvent::builder().created_at(aws_smithy_types::DateTime::from_secs(secs)).message(message).build()
}

/// A log writer for tests that keeps everything written.
#[derive(Clone, Default)]
pub struct Captured(pub Arc<Mutex<Vec<u8>>>);

impl Captured {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Captures this thread's logs at TRACE (JSON when `json`) until the guard drops.
pub fn capture_logs(json: bool) -> (Captured, tracing::subscriber::DefaultGuard) {
    let captured = Captured::default();
    // RUST_LOG=trace, as the integration tests run the binary.
    let levels = ecs_deployer::logging::Levels::parse(Some("trace"), None);
    let subscriber = ecs_deployer::logging::subscriber(json, levels, captured.clone());
    (captured.clone(), tracing::subscriber::set_default(subscriber))
}

/// Asserts no artifact secret appears in `text`.
pub fn assert_no_secrets(text: &str) {
    assert!(!text.contains(SECRET), "the secret access key was logged");
    assert!(!text.contains(SESSION_TOKEN), "the session token was logged");
}
