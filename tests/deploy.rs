//! The first invocation of a job, end to end through the handler with mocked SDK clients: what we send to S3,
//! ECS and CodePipeline, and the one report per job.

mod common;

use aws_sdk_codepipeline::operation::put_job_success_result::PutJobSuccessResultError;
use aws_sdk_ecs::operation::describe_services::{DescribeServicesError, DescribeServicesOutput};
use aws_sdk_ecs::operation::register_task_definition::RegisterTaskDefinitionError;
use aws_sdk_ecs::operation::update_service::UpdateServiceError;
use aws_sdk_ecs::types::*;
use aws_sdk_s3::operation::get_object::GetObjectError;
use aws_smithy_mocks::mock;
use aws_smithy_types::error::ErrorMetadata;
use common::*;
use ecs_deployer::taskdef::JOB_TAG;
use serde_json::json;

const NO_WAIT: &str = r#"{"cluster":"demo","service":"web","wait":false}"#;

fn error_meta(code: &str, message: &str) -> ErrorMetadata {
    ErrorMetadata::builder().code(code).message(message).build()
}

#[tokio::test]
async fn a_job_becomes_one_revision_one_update_and_one_success() {
    let (logs, _guard) = capture_logs(false);
    let world = World::default();
    let (handler, sent) = world.handler();
    let answer = handler.handle(invocation(deploy_event(NO_WAIT))).await.unwrap();
    assert_eq!(answer, json!({"jobId": JOB_ID, "outcome": "succeeded"}));

    let registered = sent.registered();
    assert_eq!(registered.len(), 1);
    let input = &registered[0];
    assert_eq!(input.family(), Some("web"));
    let images: Vec<_> =
        input.container_definitions().iter().map(|c| (c.name().unwrap(), c.image().unwrap())).collect();
    assert_eq!(
        images,
        vec![("web", NEW_IMAGE), ("log-router", "public.ecr.aws/aws-observability/aws-for-fluent-bit:stable")]
    );
    let tags: Vec<_> = input.tags().iter().map(|t| (t.key().unwrap(), t.value().unwrap())).collect();
    assert_eq!(tags, vec![("team", "payments"), (JOB_TAG, JOB_ID)]);

    let updated = sent.updated();
    assert_eq!(updated.len(), 1);
    assert_eq!((updated[0].cluster(), updated[0].service()), (Some("demo"), Some("web")));
    assert_eq!(updated[0].task_definition(), Some(NEW_TD_ARN));
    assert_eq!(updated[0].force_new_deployment(), Some(false));

    let success = sent.only_success();
    assert_eq!(success.job_id(), Some(JOB_ID));
    assert_eq!(success.continuation_token(), None);
    let details = success.execution_details().unwrap();
    assert_eq!(details.external_execution_id(), Some(NEW_TD_ARN));
    let summary = details.summary().unwrap();
    assert!(summary.contains(&format!("web: {OLD_IMAGE} → {NEW_IMAGE}")), "{summary}");
    assert!(summary.contains("Registered web:8 (from web:7)"), "{summary}");
    let variables = success.output_variables().unwrap();
    assert_eq!(variables["TaskDefinitionArn"], NEW_TD_ARN);
    assert_eq!(variables["TaskDefinitionFamily"], "web");
    assert_eq!(variables["TaskDefinitionRevision"], "8");
    assert_eq!(variables["DeploymentId"], NEW_DEPLOYMENT);
    assert_eq!(variables["ServiceDeploymentArn"], NEW_SD_ARN);
    assert_eq!(variables["PreviousTaskDefinitionArn"], TD_ARN);

    // The artifact was read with the job's artifact credentials, in one ranged GET; ECS with the function's.
    assert_eq!(sent.s3_signers.all(), vec![ARTIFACT_KEY_ID]);
    assert_eq!(sent.s3_ranges.lock().unwrap().clone(), vec!["bytes=-131072"]);
    let ecs_signers = sent.ecs_signers.all();
    // DescribeServices, DescribeTaskDefinition, ListTaskDefinitions before and after RegisterTaskDefinition
    // (one revision per job, even for concurrent deliveries), UpdateService.
    assert_eq!(ecs_signers.len(), 6);
    assert!(ecs_signers.iter().all(|k| k != ARTIFACT_KEY_ID && k != "unsigned"), "{ecs_signers:?}");

    let logs = logs.text();
    assert!(logs.contains(JOB_ID));
    assert_no_secrets(&logs);
}

#[tokio::test]
async fn every_field_of_the_task_definition_is_carried_over() {
    let base = TaskDefinition::builder()
        .task_definition_arn(TD_ARN)
        .family("web")
        .revision(7)
        .status(TaskDefinitionStatus::Active)
        .task_role_arn("arn:aws:iam::123456789012:role/web-task")
        .execution_role_arn("arn:aws:iam::123456789012:role/web-exec")
        .network_mode(NetworkMode::Awsvpc)
        .container_definitions(
            ContainerDefinition::builder()
                .name("web")
                .image(OLD_IMAGE)
                .cpu(256)
                .memory_reservation(512)
                .essential(true)
                .environment(KeyValuePair::builder().name("MODE").value("prod").build())
                .secrets(
                    Secret::builder()
                        .name("DB")
                        .value_from("arn:aws:ssm:us-east-1:123456789012:parameter/db")
                        .build()
                        .unwrap(),
                )
                .port_mappings(PortMapping::builder().container_port(8080).protocol(TransportProtocol::Tcp).build())
                .build(),
        )
        .volumes(Volume::builder().name("scratch").build())
        .placement_constraints(
            TaskDefinitionPlacementConstraint::builder()
                .r#type(TaskDefinitionPlacementConstraintType::MemberOf)
                .expression("attribute:ecs.os-type == linux")
                .build(),
        )
        .requires_compatibilities(Compatibility::Fargate)
        .compatibilities(Compatibility::Fargate)
        .requires_attributes(
            Attribute::builder().name("com.amazonaws.ecs.capability.docker-remote-api.1.18").build().unwrap(),
        )
        .cpu("512")
        .memory("1024")
        .pid_mode(PidMode::Task)
        .ipc_mode(IpcMode::None)
        .proxy_configuration(ProxyConfiguration::builder().container_name("envoy").build().unwrap())
        .ephemeral_storage(EphemeralStorage::builder().size_in_gib(50).build())
        .runtime_platform(
            RuntimePlatform::builder()
                .cpu_architecture(CpuArchitecture::Arm64)
                .operating_system_family(OsFamily::Linux)
                .build(),
        )
        .enable_fault_injection(true)
        .registered_by("arn:aws:iam::123456789012:role/deployer")
        .build();
    #[allow(deprecated)]
    let base = with(base, |td| {
        td.inference_accelerators =
            Some(vec![InferenceAccelerator::builder().device_name("d").device_type("eia2.medium").build().unwrap()])
    });
    let tags = vec![
        Tag::builder().key("team").value("payments").build(),
        Tag::builder().key("aws:cloudformation:stack-name").value("web").build(),
        Tag::builder().key(JOB_TAG).value("11111111-1111-1111-1111-111111111111").build(),
    ];
    let world = World { task_definition: base.clone(), tags, ..World::default() };
    let (handler, sent) = world.handler();
    handler.handle(invocation(deploy_event(NO_WAIT))).await.unwrap();
    let input = sent.registered().remove(0);

    let mut expected_container = base.container_definitions()[0].clone();
    expected_container.image = Some(NEW_IMAGE.into());
    assert_eq!(input.container_definitions(), &[expected_container]);
    assert_eq!(input.family(), base.family());
    assert_eq!(input.task_role_arn(), base.task_role_arn());
    assert_eq!(input.execution_role_arn(), base.execution_role_arn());
    assert_eq!(input.network_mode(), base.network_mode());
    assert_eq!(input.volumes(), base.volumes());
    assert_eq!(input.placement_constraints(), base.placement_constraints());
    assert_eq!(input.requires_compatibilities(), base.requires_compatibilities());
    assert_eq!((input.cpu(), input.memory()), (Some("512"), Some("1024")));
    assert_eq!(input.pid_mode(), base.pid_mode());
    assert_eq!(input.ipc_mode(), base.ipc_mode());
    assert_eq!(input.proxy_configuration(), base.proxy_configuration());
    #[allow(deprecated)]
    let accelerators = (input.inference_accelerators(), base.inference_accelerators());
    assert_eq!(accelerators.0, accelerators.1);
    assert_eq!(input.ephemeral_storage(), base.ephemeral_storage());
    assert_eq!(input.runtime_platform(), base.runtime_platform());
    assert_eq!(input.enable_fault_injection(), Some(true));
    // Derived from the SDK itself: every field RegisterTaskDefinitionInput has (its Debug lists them all) is
    // set by the copy of a fully populated revision. A field a newer SDK adds shows up here as `None` until
    // the copy carries it (the raw JSON carry-over keeps it meanwhile; see src/carry.rs).
    let debug = format!("{input:#?}");
    let fields: Vec<&str> =
        debug.lines().filter_map(|l| l.strip_prefix("    ")).filter(|l| !l.starts_with(' ')).collect();
    assert!(fields.len() >= 18, "{debug}");
    let missing: Vec<&str> = fields.iter().filter(|l| l.ends_with(": None,")).copied().collect();
    assert!(missing.is_empty(), "RegisterTaskDefinitionInput fields the copy does not set: {missing:?}");
    // Tags: kept, less the reserved aws: ones, with this job's id replacing the previous job's.
    let tags: Vec<_> = input.tags().iter().map(|t| (t.key().unwrap(), t.value().unwrap())).collect();
    assert_eq!(tags, vec![("team", "payments"), (JOB_TAG, JOB_ID)]);
}

#[tokio::test]
async fn waiting_reports_a_continuation_token_for_the_new_primary_deployment() {
    let (handler, sent) = World::default().handler();
    handler
        .handle(invocation(deploy_event(r#"{"cluster":"demo","service":"web","timeoutMinutes":15}"#)))
        .await
        .unwrap();
    let success = sent.only_success();
    let text = success.continuation_token().expect("a continuation token");
    let token = tracker(text);
    let targets = [ecs_deployer::config::Target::named("demo", "web")];
    assert_eq!(followed(text), NEW_SD_ARN, "the service deployment UpdateService named");
    assert_eq!(token.t[0].deployment_id().as_deref(), Some(NEW_DEPLOYMENT));
    assert_eq!(
        (token.revision(0, false, &targets), token.revision(0, true, &targets)),
        (Some("web:8".to_owned()), Some("web:7".to_owned()))
    );
    assert_eq!(token.job, JOB_ID, "the job that started the action");
    assert_eq!(token.deadline - token.started, 15 * 60);
    let details = success.execution_details().unwrap();
    assert_eq!(details.percent_complete(), Some(0));
    let summary = details.summary().unwrap();
    assert!(
        summary.contains("following ROLLING service deployment NewNewNewNewNewNewNew (timeout 15 min)"),
        "{summary}"
    );
    assert!(success.output_variables().is_none(), "output variables only go on the final report");
}

#[tokio::test]
async fn image_detail_files_update_the_named_container() {
    let detail =
        br#"{"ImageURI":"123456789012.dkr.ecr.us-east-1.amazonaws.com/web@sha256:abcdef","ImageTags":["2222222"]}"#;
    let world = World {
        archive: zip_of(&[("imageDetail.json", detail, false)]),
        ecr: vec![EcrImage::new("web", &["2222222"], "sha256:abcdef", 1_700_000_000)],
        ..World::default()
    };
    let (handler, sent) = world.handler();
    let mut event = sample_event("image-detail.json");
    event["CodePipeline.job"]["id"] = JOB_ID.into();
    handler.handle(invocation(event)).await.unwrap();
    let input = sent.registered().remove(0);
    assert_eq!(
        input.container_definitions()[0].image(),
        Some("123456789012.dkr.ecr.us-east-1.amazonaws.com/web@sha256:abcdef")
    );
    assert!(sent.only_success().continuation_token().is_some());
}

#[tokio::test]
async fn several_containers_and_a_floating_tag_warning() {
    let file = image_definitions(&[
        ("web", NEW_IMAGE),
        ("log-router", "public.ecr.aws/aws-observability/aws-for-fluent-bit:latest"),
    ]);
    let world = World { archive: zip_of(&[("build/imagedefinitions.json", &file, true)]), ..World::default() };
    let (handler, sent) = world.handler();
    handler.handle(invocation(deploy_event(NO_WAIT))).await.unwrap();
    let images: Vec<_> =
        sent.registered()[0].container_definitions().iter().map(|c| c.image().unwrap().to_owned()).collect();
    assert_eq!(images, vec![NEW_IMAGE, "public.ecr.aws/aws-observability/aws-for-fluent-bit:latest"]);
    let success = sent.only_success();
    let summary = success.execution_details().unwrap().summary().unwrap();
    assert!(summary.contains("warning: log-router uses the tag \"latest\""), "{summary}");
}

#[tokio::test]
async fn a_retry_after_the_deploy_does_not_deploy_again() {
    // The service already runs the revision this job registered (its report was lost): report, nothing else.
    let tags = vec![Tag::builder().key(JOB_TAG).value(JOB_ID).build()];
    let rolling = with(
        service(
            NEW_TD_ARN,
            vec![deployment(NEW_DEPLOYMENT, "PRIMARY", NEW_TD_ARN, DeploymentRolloutState::InProgress, 1, 2)],
        ),
        |s| s.current_service_deployment = Some(NEW_SD_ARN.into()),
    );
    let mut td = task_definition(&[("web", NEW_IMAGE)]);
    td.task_definition_arn = Some(NEW_TD_ARN.into());
    let service_deployments = vec![service_deployment("ROLLING", "IN_PROGRESS", "SCALE_UP", 1, 0.0)];
    let world = World { service: rolling, task_definition: td, tags, service_deployments, ..World::default() };
    let (handler, sent) = world.handler();
    handler.handle(invocation(deploy_event(r#"{"cluster":"demo","service":"web"}"#))).await.unwrap();
    assert!(sent.registered().is_empty() && sent.updated().is_empty());
    assert_eq!(
        followed(sent.only_success().continuation_token().unwrap()),
        NEW_SD_ARN,
        "follows the deployment it started the first time"
    );
}

#[tokio::test]
async fn images_already_running_deploy_nothing_unless_forced() {
    let world = World {
        archive: zip_of(&[("imagedefinitions.json", &image_definitions(&[("web", OLD_IMAGE)]), true)]),
        ..World::default()
    };
    let (handler, sent) = world.handler();
    handler.handle(invocation(deploy_event(r#"{"cluster":"demo","service":"web"}"#))).await.unwrap();
    assert!(sent.registered().is_empty() && sent.updated().is_empty());
    let success = sent.only_success();
    assert!(success.execution_details().unwrap().summary().unwrap().contains("the service already runs these images"));
    assert_eq!(success.output_variables().unwrap()["TaskDefinitionArn"], TD_ARN);

    let (handler, sent) = world.handler();
    handler
        .handle(invocation(deploy_event(r#"{"cluster":"demo","service":"web","forceNewDeployment":true}"#)))
        .await
        .unwrap();
    assert!(sent.registered().is_empty(), "the same images need no new revision");
    let updated = sent.updated();
    assert_eq!((updated[0].task_definition(), updated[0].force_new_deployment()), (Some(TD_ARN), Some(true)));
    assert!(sent.only_success().continuation_token().is_some());
}

/// One bad input: the world, the UserParameters, the failure type and words the message must hold.
struct Case {
    name: &'static str,
    world: World,
    params: &'static str,
    failure_type: &'static str,
    says: &'static [&'static str],
}

fn case(
    name: &'static str,
    world: World,
    params: &'static str,
    failure_type: &'static str,
    says: &'static [&'static str],
) -> Case {
    Case { name, world, params, failure_type, says }
}

fn with_archive(archive: Vec<u8>) -> World {
    World { archive, ..World::default() }
}

fn with_override(op: Op) -> World {
    World { overrides: vec![op], ..World::default() }
}

#[tokio::test(start_paused = true)]
async fn each_bad_input_gets_one_failure_of_the_right_type_and_deploys_nothing() {
    let def = |entries: &[(&str, &str)]| zip_of(&[("imagedefinitions.json", &image_definitions(entries), true)]);
    let cases = vec![
        case(
            "missing cluster",
            World::default(),
            r#"{"service":"web"}"#,
            "ConfigurationError",
            &["\"cluster\" is required"],
        ),
        case(
            "typo",
            World::default(),
            r#"{"cluster":"demo","servce":"web"}"#,
            "ConfigurationError",
            &["did you mean \"service\""],
        ),
        case("not json", World::default(), "demo/web", "ConfigurationError", &["not valid JSON"]),
        case(
            "wrong type",
            World::default(),
            r#"{"cluster":"demo","service":"web","wait":"yes"}"#,
            "ConfigurationError",
            &["\"wait\" must be true, false or \"paused\""],
        ),
        case(
            "no such file",
            with_archive(zip_of(&[("other.json", b"[]", true)])),
            NO_WAIT,
            "ConfigurationError",
            &["has no imagedefinitions.json", "other.json"],
        ),
        case(
            "no such artifact",
            World::default(),
            r#"{"cluster":"demo","service":"web","artifact":"Source"}"#,
            "ConfigurationError",
            &["no input artifact named \"Source\"", "\"BuildOutput\""],
        ),
        case(
            "unknown container",
            with_archive(def(&[("api", NEW_IMAGE)])),
            NO_WAIT,
            "ConfigurationError",
            &["no container named \"api\"", "\"web\", \"log-router\""],
        ),
        case(
            "imageDetail without containerName",
            with_archive(zip_of(&[("imagedefinitions.json", br#"{"ImageURI":"r@sha256:1"}"#, true)])),
            NO_WAIT,
            "ConfigurationError",
            &["set \"containerName\""],
        ),
        case("empty definitions", with_archive(def(&[])), NO_WAIT, "JobFailed", &["empty array"]),
        case(
            "not a zip",
            with_archive(b"this is not a zip file at all, just text".to_vec()),
            NO_WAIT,
            "JobFailed",
            &["is not a zip file", "BuildOutput"],
        ),
        case(
            "code deploy controller",
            World {
                service: with(steady_service(), |s| {
                    s.deployment_controller = Some(
                        DeploymentController::builder().r#type(DeploymentControllerType::CodeDeploy).build().unwrap(),
                    )
                }),
                ..World::default()
            },
            NO_WAIT,
            "ConfigurationError",
            &["CODE_DEPLOY deployment controller"],
        ),
        case(
            "draining service",
            World { service: with(steady_service(), |s| s.status = Some("DRAINING".into())), ..World::default() },
            NO_WAIT,
            "ConfigurationError",
            &["is DRAINING"],
        ),
        case(
            "missing service",
            with_override(Op::Ecs(mock!(aws_sdk_ecs::Client::describe_services).then_output(|| {
                DescribeServicesOutput::builder()
                    .failures(Failure::builder().arn(SERVICE_ARN).reason("MISSING").build())
                    .build()
            }))),
            NO_WAIT,
            "ConfigurationError",
            &["service \"web\" was not found in cluster \"demo\" (MISSING)", "Fix:"],
        ),
        case(
            "missing cluster",
            with_override(Op::Ecs(mock!(aws_sdk_ecs::Client::describe_services).then_error(|| {
                DescribeServicesError::generic(error_meta("ClusterNotFoundException", "Cluster not found."))
            }))),
            NO_WAIT,
            "ConfigurationError",
            &["DescribeServices for service web in cluster demo failed: ClusterNotFoundException: Cluster not found."],
        ),
        case(
            "artifact gone",
            with_override(Op::S3(
                mock!(aws_sdk_s3::Client::get_object).then_error(|| {
                    GetObjectError::generic(error_meta("NoSuchKey", "The specified key does not exist."))
                }),
            )),
            NO_WAIT,
            "RevisionUnavailable",
            &["NoSuchKey", "s3://codepipeline-artifacts-demo/demo-pipeline/BuildOutpu/Ab3dE9x"],
        ),
        case(
            "artifact access denied",
            with_override(Op::S3(
                mock!(aws_sdk_s3::Client::get_object)
                    .then_error(|| GetObjectError::generic(error_meta("AccessDenied", "Access Denied"))),
            )),
            NO_WAIT,
            "PermissionError",
            &[
                "AccessDenied: Access Denied",
                "pipeline's service role s3:GetObject on arn:aws:s3:::codepipeline-artifacts-demo/*",
            ],
        ),
        case(
            "register denied",
            with_override(Op::Ecs(mock!(aws_sdk_ecs::Client::register_task_definition).then_error(|| {
                RegisterTaskDefinitionError::generic(error_meta(
                    "AccessDeniedException",
                    "User: arn:aws:sts::123456789012:assumed-role/fn is not authorized to perform: iam:PassRole",
                ))
            }))),
            NO_WAIT,
            "PermissionError",
            &["RegisterTaskDefinition for task definition family web failed", "iam:PassedToService"],
        ),
        case(
            "throttled",
            with_override(Op::Ecs(
                mock!(aws_sdk_ecs::Client::describe_services)
                    .sequence()
                    .error(|| DescribeServicesError::generic(error_meta("ThrottlingException", "Rate exceeded")))
                    .repeatedly()
                    .build(),
            )),
            NO_WAIT,
            "SystemUnavailable",
            &["ThrottlingException: Rate exceeded", "retry the stage"],
        ),
        case(
            "update rejected",
            with_override(Op::Ecs(mock!(aws_sdk_ecs::Client::update_service).then_error(|| {
                UpdateServiceError::generic(error_meta(
                    "InvalidParameterException",
                    "Task definition does not support launch_type FARGATE.",
                ))
            }))),
            NO_WAIT,
            "JobFailed",
            &["UpdateService for service web in cluster demo failed: InvalidParameterException"],
        ),
    ];
    for c in cases {
        // Only "update rejected" gets as far as registering; no update succeeds (the rejected one is not recorded).
        let registers_expected = usize::from(c.name == "update rejected");
        let (handler, sent) = c.world.handler();
        let (logs, guard) = capture_logs(true);
        let answer = handler.handle(invocation(deploy_event(c.params))).await;
        assert!(answer.is_ok(), "{}: the report was delivered, so the invocation succeeds", c.name);
        let (failure_type, message) = sent.only_failure();
        assert_eq!(failure_type, c.failure_type, "{}: {message}", c.name);
        for words in c.says {
            assert!(message.contains(words), "{}: {message:?} lacks {words:?}", c.name);
        }
        assert!(message.len() <= 5000);
        // Nothing is registered or updated unless the failing step came after it.
        let registered = sent
            .registered()
            .iter()
            .filter(|r| r.container_definitions().iter().any(|c| c.image() == Some(NEW_IMAGE)))
            .count();
        assert_eq!(registered, registers_expected, "{}", c.name);
        assert_eq!(sent.updated().len(), 0, "{}", c.name);
        drop(guard);
        let logs = logs.text();
        assert_no_secrets(&logs);
        for line in logs.lines() {
            assert!(line.contains(JOB_ID), "{}: a log line without the job id: {line}", c.name);
        }
    }
}

#[tokio::test]
async fn malformed_events_are_answered_when_they_name_a_job() {
    let (logs, _guard) = capture_logs(false);
    let (handler, sent) = World::default().handler();
    let mut event = sample_event("deploy.json");
    event["CodePipeline.job"]["data"]["artifactCredentials"] = json!([SECRET, SESSION_TOKEN]);
    handler.handle(invocation(event)).await.unwrap();
    let (failure_type, message) = sent.only_failure();
    assert_eq!(failure_type, "ConfigurationError");
    assert!(message.contains("malformed"), "{message}");
    assert_no_secrets(&message);

    for not_a_job in [json!({"hello": "world"}), json!([1, 2]), json!({"CodePipeline.job": {"id": "x"}})] {
        let error = handler.handle(invocation(not_a_job)).await.unwrap_err();
        assert_eq!(error.error_type, "NotACodePipelineJob");
    }
    assert_eq!(sent.reports(), 1, "nothing to report to for events without a job id");
    assert_no_secrets(&logs.text());
}

#[tokio::test]
async fn a_duplicate_delivery_to_the_same_process_is_answered_once() {
    let (handler, sent) = World::default().handler();
    handler.handle(invocation(deploy_event(NO_WAIT))).await.unwrap();
    let again = handler.handle(invocation(deploy_event(NO_WAIT))).await.unwrap();
    assert_eq!(again["outcome"], "duplicate");
    assert_eq!((sent.registered().len(), sent.updated().len(), sent.reports()), (1, 1, 1));
}

#[tokio::test(start_paused = true)]
async fn an_undeliverable_report_fails_the_invocation_so_lambda_retries() {
    let rule = mock!(aws_sdk_codepipeline::Client::put_job_success_result)
        .sequence()
        .http_status(503, None)
        .repeatedly()
        .build();
    let (handler, sent) = with_override(Op::Pipeline(rule.clone())).handler();
    let error = handler.handle(invocation(deploy_event(NO_WAIT))).await.unwrap_err();
    assert_eq!(error.error_type, "ReportNotDelivered");
    assert!(error.error_message.contains("PutJobSuccessResult"), "{}", error.error_message);
    assert_eq!(rule.num_calls(), 5, "the report is retried before giving up");
    assert_eq!(sent.reports(), 0);
}

#[tokio::test]
async fn a_job_codepipeline_already_closed_is_not_an_error() {
    let rule = mock!(aws_sdk_codepipeline::Client::put_job_success_result).then_error(|| {
        PutJobSuccessResultError::InvalidJobStateException(
            aws_sdk_codepipeline::types::error::InvalidJobStateException::builder().message("already done").build(),
        )
    });
    let (handler, _) = with_override(Op::Pipeline(rule)).handler();
    let answer = handler.handle(invocation(deploy_event(NO_WAIT))).await.unwrap();
    assert_eq!(answer["outcome"], "not reported");
}

#[tokio::test]
async fn a_store_that_ignores_range_requests_is_read_in_one_get() {
    let mut files: Vec<(String, Vec<u8>, bool)> =
        (0..50).map(|i| (format!("src/file{i}.txt"), vec![b'x'; 20_000], false)).collect();
    files.push(("imagedefinitions.json".into(), image_definitions(&[("web", NEW_IMAGE)]), true));
    let entries: Vec<(&str, &[u8], bool)> = files.iter().map(|(n, c, d)| (n.as_str(), c.as_slice(), *d)).collect();
    let archive = zip_of(&entries);
    let whole = archive.clone();
    let rule = mock!(aws_sdk_s3::Client::get_object).then_compute_output(move |_| {
        aws_sdk_s3::operation::get_object::GetObjectOutput::builder()
            .content_length(whole.len() as i64)
            .body(aws_sdk_s3::primitives::ByteStream::from(whole.clone()))
            .build()
    });
    let (handler, sent) = with_override(Op::S3(rule.clone())).handler();
    handler.handle(invocation(deploy_event(NO_WAIT))).await.unwrap();
    assert_eq!(sent.registered()[0].container_definitions()[0].image(), Some(NEW_IMAGE));
    sent.only_success();
    // The whole object came with the first answer: the file is cut out of it, with no second GET.
    assert_eq!(rule.num_calls(), 1);
    assert!(archive.len() > 1_000_000, "an archive larger than the first read would ask for");
}

#[tokio::test]
async fn a_store_answering_another_range_than_asked_is_refused() {
    let archive = standard_archive();
    let rule = mock!(aws_sdk_s3::Client::get_object).then_compute_output(move |_| {
        aws_sdk_s3::operation::get_object::GetObjectOutput::builder()
            .content_range(format!("bytes 0-9/{}", archive.len()))
            .body(aws_sdk_s3::primitives::ByteStream::from(archive[..10].to_vec()))
            .build()
    });
    let (handler, sent) = with_override(Op::S3(rule)).handler();
    handler.handle(invocation(deploy_event(NO_WAIT))).await.unwrap();
    let (failure_type, message) = sent.only_failure();
    assert_eq!(failure_type, "JobFailed");
    assert!(message.contains("a different byte range than the one asked for"), "{message}");
    assert!(sent.registered().is_empty());
}

#[tokio::test]
async fn no_dependency_logs_at_trace_even_when_asked_for_everything() {
    let (logs, _guard) = capture_logs(false);
    // What a dependency might add in a new version: a TRACE dump of what it handles.
    tracing::trace!(target: "lambda_runtime::layers::api_response", "raw event {SECRET}");
    tracing::trace!(target: "some_new_crate::internals", "dump {SESSION_TOKEN}");
    tracing::debug!(target: "some_new_crate::internals", "debug is not asked for this target");
    tracing::info!(target: "some_new_crate::internals", "info passes");
    tracing::trace!(target: "ecs_deployer::deploy", "ours at trace passes");
    let text = logs.text();
    assert_no_secrets(&text);
    assert!(!text.contains("debug is not asked"), "{text}");
    assert!(text.contains("info passes") && text.contains("ours at trace passes"), "{text}");
}

#[tokio::test]
async fn a_job_codepipeline_does_not_know_is_logged_as_an_error_with_what_it_said() {
    // With REPORT_BEFORE_CHANGE off, the function changes first and reports after: the report's refusal is
    // logged with what the report said (tests/report_first.rs: with the protocol on, nothing changes).
    let rule = mock!(aws_sdk_codepipeline::Client::put_job_success_result).then_error(|| {
        PutJobSuccessResultError::JobNotFoundException(
            aws_sdk_codepipeline::types::error::JobNotFoundException::builder().message("no such job").build(),
        )
    });
    let (logs, _guard) = capture_logs(true);
    let (handler, sent) = with_override(Op::Pipeline(rule)).handler();
    let answer = handler.handle(invocation(deploy_event(NO_WAIT))).await.unwrap();
    assert_eq!(answer["outcome"], "not reported");
    assert_eq!(sent.registered().len(), 1);
    let line = logs.text().lines().find(|l| l.contains("CodePipeline does not know this job id")).unwrap().to_owned();
    let line: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(line["level"], "ERROR");
    assert!(line["said"].as_str().unwrap().contains("Registered web:8 (from web:7) and updated service web"), "{line}");
    assert!(line.to_string().contains(JOB_ID), "the job id is on the line: {line}");
}

#[tokio::test]
async fn images_and_artifacts_outside_the_allow_lists_change_nothing() {
    use ecs_deployer::guard::Guard;
    let registry = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
    let cases = [
        (
            Guard::parse(Some(&format!("{registry}/team-a/")), None),
            "image 123456789012.dkr.ecr.us-east-1.amazonaws.com/web:2222222 is outside ALLOWED_IMAGES",
        ),
        (
            Guard::parse(Some("987654321098.dkr.ecr.us-east-1.amazonaws.com"), None),
            "is outside ALLOWED_IMAGES (987654321098",
        ),
        (
            Guard::parse(None, Some("artifacts-prod")),
            "S3 bucket codepipeline-artifacts-demo, outside ALLOWED_ARTIFACT_BUCKETS (artifacts-prod)",
        ),
    ];
    for (guard, words) in cases {
        let sent = Sent::default();
        let handler = World::default().handler_with_guard(guard, &sent);
        handler.handle(invocation(deploy_event(NO_WAIT))).await.unwrap();
        let (kind, message) = sent.only_failure();
        assert_eq!(kind, "ConfigurationError");
        assert!(message.contains(words), "{message}");
        assert!(sent.registered().is_empty() && sent.updated().is_empty());
    }
    // The carried-over sidecar image (log-router) is not checked: only what the deploy sets.
    let sent = Sent::default();
    let guard = Guard::parse(Some(registry), Some("codepipeline-artifacts-demo"));
    let handler = World::default().handler_with_guard(guard, &sent);
    handler.handle(invocation(deploy_event(NO_WAIT))).await.unwrap();
    sent.only_success();
}

#[tokio::test]
async fn a_dry_run_reads_and_plans_and_changes_nothing() {
    let world = World::default();
    let (handler, sent) = world.handler();
    let params = r#"{"cluster":"demo","service":"web","dryRun":true}"#;
    let answer = handler.handle(invocation(deploy_event(params))).await.unwrap();
    assert_eq!(answer, json!({"jobId": JOB_ID, "outcome": "succeeded"}));
    assert!(sent.registered().is_empty() && sent.updated().is_empty() && sent.deregistered.lock().unwrap().is_empty());
    // Only reads: DescribeServices and DescribeTaskDefinition (with its tags); no ListTaskDefinitions either.
    assert_eq!(sent.ecs_signers.all().len(), 2);
    let success = sent.only_success();
    assert_eq!(success.continuation_token(), None);
    let summary = success.execution_details().unwrap().summary().unwrap().to_owned();
    assert!(summary.starts_with("Dry run: nothing was registered, updated or tagged."), "{summary}");
    assert!(summary.contains(&format!("~ web image {OLD_IMAGE} → {NEW_IMAGE}")), "{summary}");
    assert!(summary.contains("A deploy would register a new revision of web"), "{summary}");
    let variables = success.output_variables().unwrap();
    assert_eq!(variables["DryRun"], "true");
    assert_eq!(variables["TaskDefinitionArn"], TD_ARN, "the revision running now");

    // Nothing to change: said so.
    let world = World {
        archive: zip_of(&[("imagedefinitions.json", &image_definitions(&[("web", OLD_IMAGE)]), true)]),
        ..World::default()
    };
    let (handler, sent) = world.handler();
    handler.handle(invocation(deploy_event(params))).await.unwrap();
    let summary = sent.only_success().execution_details().unwrap().summary().unwrap().to_owned();
    assert!(summary.contains("A deploy would change nothing: the service already runs these images."), "{summary}");
}

#[tokio::test]
async fn a_deploy_file_is_read_in_the_same_pass_as_the_image_file() {
    let deploy_file = br#"{"wait":false,"fileName":"build/images.json"}"#;
    let world = World {
        archive: zip_of(&[
            ("deploy.json", deploy_file, true),
            ("build/images.json", &image_definitions(&[("web", NEW_IMAGE)]), true),
        ]),
        ..World::default()
    };
    let (handler, sent) = world.handler();
    let params = r#"{"cluster":"demo","service":"web","deployFile":"deploy.json"}"#;
    let answer = handler.handle(invocation(deploy_event(params))).await.unwrap();
    assert_eq!(answer, json!({"jobId": JOB_ID, "outcome": "succeeded"}), "wait: false came from the file");
    assert_eq!(sent.registered().len(), 1);
    assert_eq!(sent.only_success().continuation_token(), None);
    // Both files from the one tail GET.
    assert_eq!(sent.s3_ranges.lock().unwrap().clone(), vec!["bytes=-131072"]);

    // A key set in both places: ConfigurationError before anything changes.
    let (handler, sent) = world.handler();
    let params = r#"{"cluster":"demo","service":"web","wait":true,"deployFile":"deploy.json"}"#;
    handler.handle(invocation(deploy_event(params))).await.unwrap();
    let (kind, message) = sent.only_failure();
    assert_eq!(kind, "ConfigurationError");
    assert!(message.contains("sets \"wait\", which UserParameters sets too; set it in one place"), "{message}");
    assert!(sent.registered().is_empty() && sent.updated().is_empty());

    // A deploy file that is not there: said as such, with what the artifact has.
    let (handler, sent) = world.handler();
    let params = r#"{"cluster":"demo","service":"web","deployFile":"release.json"}"#;
    handler.handle(invocation(deploy_event(params))).await.unwrap();
    let (kind, message) = sent.only_failure();
    assert_eq!(kind, "ConfigurationError");
    assert!(message.contains("release.json") && message.contains("deploy.json"), "{message}");
}

#[tokio::test]
async fn a_release_is_built_on_a_running_revision_that_was_deregistered() {
    let world = World {
        task_definition: with(task_definition(&[("web", OLD_IMAGE)]), |td| {
            td.status = Some(TaskDefinitionStatus::Inactive)
        }),
        ..World::default()
    };
    let (handler, sent) = world.handler();
    handler.handle(invocation(deploy_event(NO_WAIT))).await.unwrap();
    assert_eq!(sent.registered().len(), 1, "built on the INACTIVE revision");
    assert_eq!(sent.updated()[0].task_definition(), Some(NEW_TD_ARN));
    let summary = sent.only_success().execution_details().unwrap().summary().unwrap().to_owned();
    assert!(summary.contains("note: the running revision web:7 is INACTIVE; the new one is built on it"), "{summary}");
}
