//! Following a deploy by its ECS service deployment (DescribeServiceDeployments), through the handler with
//! mocked SDK clients: one call per look, each status and cause, timeouts, the defects of the first release.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_ecs::operation::describe_service_deployments::DescribeServiceDeploymentsError;
use aws_sdk_ecs::types::*;
use aws_smithy_mocks::mock;
use aws_smithy_types::DateTime;
use aws_smithy_types::error::ErrorMetadata;
use common::*;
use ecs_deployer::taskdef::JOB_TAG;
use lambda_runtime::{Context, LambdaEvent};
use serde_json::Value;

const JOBS: [&str; 4] = [
    "20000000-0000-4000-8000-000000000001",
    "20000000-0000-4000-8000-000000000002",
    "20000000-0000-4000-8000-000000000003",
    "20000000-0000-4000-8000-000000000004",
];
const WAIT: &str = r#"{"cluster":"demo","service":"web"}"#;

fn continuation(job: &str, token: &str) -> LambdaEvent<Value> {
    invocation(continuation_event(job, token))
}

/// The token with its deadline passed.
fn expired(text: &str) -> String {
    let mut t: serde_json::Value = serde_json::from_str(text).unwrap();
    t["deadline"] = 1.into();
    t.to_string()
}

/// Deploys, then runs continuations until a final report; returns every report's job, token, percent.
async fn run(world: &World, user_parameters: &str, expire: bool) -> (Sent, Vec<Option<String>>, Vec<i32>) {
    let (handler, sent) = world.handler();
    handler.handle(invocation(deploy_event(user_parameters))).await.unwrap();
    let mut token = sent.successes()[0].continuation_token().expect("a continuation token").to_owned();
    let mut tokens = vec![Some(token.clone())];
    let mut percents = Vec::new();
    for job in JOBS {
        if expire {
            token = expired(&token);
        }
        handler.handle(continuation(job, &token)).await.unwrap();
        if !sent.failures().is_empty() {
            tokens.push(None);
            break;
        }
        let last = sent.successes().last().unwrap().clone();
        tokens.push(last.continuation_token().map(str::to_owned));
        match last.continuation_token() {
            Some(next) => {
                percents.push(last.execution_details().unwrap().percent_complete().unwrap());
                token = next.to_owned();
            }
            None => break,
        }
    }
    (sent, tokens, percents)
}

/// The one failure report after a deploy that succeeded in starting: its type and message.
fn failure(sent: &Sent) -> (String, String) {
    let failures = sent.failures();
    assert_eq!(failures.len(), 1, "exactly one failure report");
    let details = failures[0].failure_details().unwrap();
    (details.r#type().as_str().to_owned(), details.message().to_owned())
}

fn ecs_calls(sent: &Sent) -> usize {
    sent.ecs_signers.all().len()
}

#[tokio::test]
async fn a_canary_deploy_is_followed_by_its_service_deployment_to_success_with_proof() {
    let looks = vec![
        service_deployment("CANARY", "IN_PROGRESS", "SCALE_UP", 2, 0.0),
        service_deployment("CANARY", "IN_PROGRESS", "PRODUCTION_TRAFFIC_SHIFT", 4, 5.0),
        service_deployment("CANARY", "IN_PROGRESS", "PRODUCTION_TRAFFIC_SHIFT", 4, 100.0),
        service_deployment("CANARY", "SUCCESSFUL", "CLEAN_UP", 4, 100.0),
    ];
    let world = World { service_deployments: looks, ..World::default() };
    let (handler, sent) = world.handler();
    handler.handle(invocation(deploy_event(WAIT))).await.unwrap();
    let first = sent.successes()[0].clone();
    let mut token = first.continuation_token().unwrap().to_owned();
    let mut lines = Vec::new();
    let mut percents = Vec::new();
    for job in JOBS {
        let before = ecs_calls(&sent);
        handler.handle(continuation(job, &token)).await.unwrap();
        let last = sent.successes().last().unwrap().clone();
        let summary = last.execution_details().unwrap().summary().unwrap().to_owned();
        match last.continuation_token() {
            Some(next) => {
                assert_eq!(ecs_calls(&sent) - before, 1, "one DescribeServiceDeployments per look");
                percents.push(last.execution_details().unwrap().percent_complete().unwrap());
                lines.push(summary);
                token = next.to_owned();
            }
            None => {
                assert_eq!(ecs_calls(&sent) - before, 2, "the look, then DescribeServiceRevisions (the digests)");
                let vars = last.output_variables().unwrap();
                assert_eq!(vars["TaskDefinitionArn"], NEW_TD_ARN);
                assert_eq!(vars["ServiceDeploymentArn"], NEW_SD_ARN);
                assert_eq!(vars["ServiceRevisionArn"], NEW_REVISION_ARN);
                assert_eq!(vars["PreviousTaskDefinitionArn"], TD_ARN);
                assert_eq!(vars["Strategy"], "CANARY");
                assert_eq!(vars["ImageDigest_web"], DIGEST);
                assert_eq!(vars["DeploymentId"], NEW_DEPLOYMENT);
                assert!(
                    summary.contains("Service deployment NewNewNewNewNewNewNew of web:8 (CANARY) succeeded"),
                    "{summary}"
                );
                assert!(summary.contains(&format!("web: {NEW_IMAGE} = {DIGEST}")), "{summary}");
                break;
            }
        }
    }
    assert_eq!(sent.reports(), 5);
    assert!(
        lines[1].contains("stage PRODUCTION_TRAFFIC_SHIFT; 4 of 4 tasks running; production traffic 5 %"),
        "{}",
        lines[1]
    );
    assert!(lines[1].contains("bake time 10 min"), "{}", lines[1]);
    assert!(percents.windows(2).all(|w| w[0] <= w[1]), "never backwards: {percents:?}");
    assert_eq!(percents.len(), 3);
}

#[tokio::test]
async fn each_failure_ends_in_one_job_failed_that_names_its_cause() {
    let breaker = ServiceDeploymentCircuitBreaker::builder()
        .status(ServiceDeploymentRollbackMonitorsStatus::Triggered)
        .failure_count(3)
        .threshold(3)
        .build();
    let alarms = ServiceDeploymentAlarms::builder()
        .status(ServiceDeploymentRollbackMonitorsStatus::Triggered)
        .triggered_alarm_names("web-5xx-rate")
        .build();
    let rollback = Rollback::builder().reason("rollback").service_revision_arn(OLD_REVISION_ARN).build();
    let failing = |status: &str, change: &dyn Fn(&mut ServiceDeployment)| {
        let mut sd = service_deployment("ROLLING", status, "SCALE_UP", 0, 0.0);
        change(&mut sd);
        sd
    };
    let cases: Vec<(ServiceDeployment, &[&str])> = vec![
        (
            failing("ROLLBACK_IN_PROGRESS", &|sd| {
                sd.deployment_circuit_breaker = Some(breaker.clone());
                sd.rollback = Some(rollback.clone());
            }),
            &[
                "failed: the deployment circuit breaker tripped: 3 task(s) failed (threshold 3)",
                "ECS is rolling back to service revision 1000000000000000001 (the service ran web:7 before this deploy)",
            ],
        ),
        (
            failing("ROLLBACK_REQUESTED", &|sd| sd.alarms = Some(alarms.clone())),
            &[
                "the CloudWatch alarm \"web-5xx-rate\" went into ALARM",
                "describe-service-deployments --service-deployment-arns",
            ],
        ),
        (
            failing("ROLLBACK_SUCCESSFUL", &|sd| sd.rollback = Some(rollback.clone())),
            &["ECS rolled back to service revision 1000000000000000001"],
        ),
        (
            failing("STOPPED", &|sd| sd.status_reason = Some("Stopped by user via StopServiceDeployment".into())),
            &["was stopped: it was stopped by a StopServiceDeployment request", "ECS did not roll it back"],
        ),
        (failing("ROLLBACK_FAILED", &|_| {}), &["ROLLBACK FAILED", "mix of revisions"]),
    ];
    for (sd, words) in cases {
        let world = World { service_deployments: vec![sd], ..World::default() };
        let (sent, _, _) = run(&world, WAIT, false).await;
        let (kind, message) = failure(&sent);
        assert_eq!(kind, "JobFailed", "{message}");
        assert_says(&message, words);
    }
}

#[tokio::test]
async fn a_throttled_look_is_not_a_verdict_but_access_denied_is() {
    let throttled = mock!(aws_sdk_ecs::Client::describe_service_deployments).then_error(|| {
        DescribeServiceDeploymentsError::generic(
            ErrorMetadata::builder().code("ThrottlingException").message("Rate exceeded").build(),
        )
    });
    let world = World {
        overrides: vec![Op::Ecs(throttled)],
        service_deployments: vec![service_deployment("ROLLING", "IN_PROGRESS", "SCALE_UP", 1, 0.0)],
        ..World::default()
    };
    let (handler, sent) = world.handler();
    handler.handle(invocation(deploy_event(WAIT))).await.unwrap();
    let token = sent.successes()[0].continuation_token().unwrap().to_owned();
    handler.handle(continuation(JOBS[0], &token)).await.unwrap();
    assert!(sent.failures().is_empty());
    let last = sent.successes().last().unwrap().clone();
    let summary = last.execution_details().unwrap().summary().unwrap();
    assert!(summary.contains("ECS did not answer this look") && summary.contains("ThrottlingException"), "{summary}");
    assert_eq!(tracker(last.continuation_token().unwrap()).polls, 1);

    let denied = mock!(aws_sdk_ecs::Client::describe_service_deployments).then_error(|| {
        DescribeServiceDeploymentsError::generic(
            ErrorMetadata::builder()
                .code("AccessDeniedException")
                .message("not authorized to perform: ecs:DescribeServiceDeployments")
                .build(),
        )
    });
    let (handler, sent) = World { overrides: vec![Op::Ecs(denied)], ..World::default() }.handler();
    handler.handle(continuation(JOBS[1], &token)).await.unwrap();
    let (kind, message) = sent.only_failure();
    assert_eq!(kind, "PermissionError");
    assert!(message.contains("DescribeServiceDeployments") && message.contains("Sid ServiceDeployments"), "{message}");
}

#[tokio::test]
async fn a_timed_out_deploy_is_rolled_back_by_default_left_on_request_and_never_stopped_at_a_pause() {
    let going = service_deployment("BLUE_GREEN", "IN_PROGRESS", "BAKE_TIME", 4, 100.0);
    let world = World { service_deployments: vec![going.clone()], ..World::default() };
    let (sent, _, _) = run(&world, WAIT, true).await;
    let (kind, message) = failure(&sent);
    assert_eq!(kind, "JobFailed");
    assert!(message.contains("did not finish within 60 minutes, so it was rolled back"), "{message}");
    assert!(message.contains("the service ran web:7 before this deploy"), "{message}");
    let stops = sent.stopped();
    assert_eq!(stops.len(), 1);
    assert_eq!(stops[0].service_deployment_arn(), Some(NEW_SD_ARN));
    assert_eq!(stops[0].stop_type(), Some(&StopServiceDeploymentStopType::Rollback));

    let (sent, _, _) = run(&world, r#"{"cluster":"demo","service":"web","onTimeout":"leave"}"#, true).await;
    let (_, message) = failure(&sent);
    assert!(message.contains("it was left running (onTimeout: \"leave\")"), "{message}");
    assert!(sent.stopped().is_empty());

    let mut paused = going;
    paused.lifecycle_hook_details = Some(vec![
        DeploymentLifecycleHookDetail::builder()
            .hook_id("approval")
            .target_type(DeploymentLifecycleHookTargetType::Pause)
            .status(DeploymentLifecycleHookStatus::AwaitingAction)
            .expires_at(DateTime::from_secs(1_900_000_000))
            .timeout_action(DeploymentLifecycleHookAction::Rollback)
            .build(),
    ]);
    let world = World { service_deployments: vec![paused], ..World::default() };
    let (sent, _, _) = run(&world, WAIT, true).await;
    let (_, message) = failure(&sent);
    assert!(
        message.contains(
            "waiting at BAKE_TIME for ContinueServiceDeployment (pause hook approval) until 2030-03-17T17:46:40Z"
        ),
        "{message}"
    );
    assert!(message.contains("does not stop a deployment that waits at a pause hook"), "{message}");
    assert!(sent.stopped().is_empty(), "a paused deployment is left to its hook's own timeout");
}

#[tokio::test]
async fn a_strategy_that_bakes_long_gets_a_timeout_that_fits_and_says_so() {
    let service = with(steady_service(), |s| {
        s.deployment_configuration = Some(
            DeploymentConfiguration::builder()
                .strategy(DeploymentStrategy::Linear)
                .bake_time_in_minutes(30)
                .linear_configuration(
                    LinearConfiguration::builder().step_percent(20.0).step_bake_time_in_minutes(15).build(),
                )
                .build(),
        )
    });
    let (handler, sent) = World { service, ..World::default() }.handler();
    handler.handle(invocation(deploy_event(WAIT))).await.unwrap();
    let success = sent.only_success();
    let token = tracker(success.continuation_token().unwrap());
    assert_eq!(token.timeout, 4 * 15 + 30 + 30);
    assert_eq!(token.deadline - token.started, 120 * 60);
    let summary = success.execution_details().unwrap().summary().unwrap();
    assert!(summary.contains("following LINEAR service deployment"), "{summary}");
    assert!(summary.contains("timeout 120 min: this LINEAR configuration bakes for 90 min, plus 30 min"), "{summary}");
}

#[tokio::test]
async fn a_retry_after_a_failed_deployment_deploys_again_instead_of_reporting_success() {
    // The previous job's deployment of these images STOPPED without rollback: the service points at them but
    // they never ran. A new job (a pipeline Retry) must not call that "nothing new to deploy".
    let broken = with(
        service(
            NEW_TD_ARN,
            vec![deployment(NEW_DEPLOYMENT, "PRIMARY", NEW_TD_ARN, DeploymentRolloutState::Failed, 0, 2)],
        ),
        |s| s.current_service_deployment = Some(OLD_SD_ARN.into()),
    );
    let mut td = task_definition(&[("web", NEW_IMAGE)]);
    td.task_definition_arn = Some(NEW_TD_ARN.into());
    let stopped = with(service_deployment("ROLLING", "STOPPED", "SCALE_UP", 0, 0.0), |sd| {
        sd.service_deployment_arn = Some(OLD_SD_ARN.into())
    });
    let world = World {
        service: broken,
        task_definition: td,
        tags: vec![Tag::builder().key(JOB_TAG).value("99999999-9999-4999-8999-999999999999").build()],
        service_deployments: vec![stopped, service_deployment("ROLLING", "IN_PROGRESS", "SCALE_UP", 1, 0.0)],
        ..World::default()
    };
    let (handler, sent) = world.handler();
    handler.handle(invocation(deploy_event(WAIT))).await.unwrap();
    assert!(sent.registered().is_empty(), "the revision exists already");
    let updated = sent.updated();
    assert_eq!(updated.len(), 1);
    assert_eq!((updated[0].task_definition(), updated[0].force_new_deployment()), (Some(NEW_TD_ARN), Some(true)));
    let success = sent.only_success();
    let summary = success.execution_details().unwrap().summary().unwrap();
    assert!(summary.contains("last deployment of web:8 ended STOPPED; started a new deployment"), "{summary}");
    assert_eq!(followed(success.continuation_token().unwrap()), NEW_SD_ARN);
}

#[tokio::test]
async fn a_deployment_that_succeeded_and_was_replaced_later_is_its_success() {
    // Another deploy replaced it before our look: the verdict is this action's own deployment's.
    let world = World {
        service_deployments: vec![service_deployment("ROLLING", "SUCCESSFUL", "CLEAN_UP", 4, 0.0)],
        ..World::default()
    };
    let (sent, tokens, _) = run(&world, WAIT, false).await;
    assert_eq!(tokens.last(), Some(&None));
    let success = sent.successes().last().unwrap().clone();
    let summary = success.execution_details().unwrap().summary().unwrap();
    assert!(summary.starts_with("Service deployment NewNewNewNewNewNewNew of web:8 (ROLLING) succeeded"), "{summary}");
    assert_eq!(success.output_variables().unwrap()["ServiceDeploymentArn"], NEW_SD_ARN);
    assert!(sent.failures().is_empty());
}

/// ListServiceDeployments with nothing listed: no deployment of the revision was started yet.
fn no_deployments_listed() -> aws_smithy_mocks::Rule {
    mock!(aws_sdk_ecs::Client::list_service_deployments).then_output(|| {
        aws_sdk_ecs::operation::list_service_deployments::ListServiceDeploymentsOutput::builder().build()
    })
}

/// DescribeTaskDefinition of web:8, a revision tagged with this job (an earlier attempt's or another delivery's).
fn web_8_of_this_job() -> aws_smithy_mocks::Rule {
    let td = TaskDefinition::builder()
        .task_definition_arn(NEW_TD_ARN)
        .family("web")
        .revision(8)
        .status(TaskDefinitionStatus::Active)
        .build();
    mock!(aws_sdk_ecs::Client::describe_task_definition)
        .match_requests(|r| r.task_definition() == Some(NEW_TD_ARN))
        .then_output(move || {
            aws_sdk_ecs::operation::describe_task_definition::DescribeTaskDefinitionOutput::builder()
                .task_definition(td.clone())
                .tags(Tag::builder().key(JOB_TAG).value(JOB_ID).build())
                .build()
        })
}

#[tokio::test]
async fn a_revision_this_job_registered_already_is_reused_not_registered_again() {
    // A crash after RegisterTaskDefinition, or a concurrent delivery: the family's newest revision carries
    // this job's tag, so the deploy uses it.
    let world = World {
        overrides: vec![Op::Ecs(web_8_of_this_job()), Op::Ecs(no_deployments_listed())],
        revisions: vec![NEW_TD_ARN.into(), TD_ARN.into()],
        ..World::default()
    };
    let (handler, sent) = world.handler();
    handler.handle(invocation(deploy_event(r#"{"cluster":"demo","service":"web","wait":false}"#))).await.unwrap();
    assert!(sent.registered().is_empty(), "nothing registered twice");
    assert_eq!(sent.updated().len(), 1);
    assert_eq!(sent.updated()[0].task_definition(), Some(NEW_TD_ARN));
    assert_eq!(sent.only_success().output_variables().unwrap()["TaskDefinitionArn"], NEW_TD_ARN);
}

#[tokio::test]
async fn a_concurrent_delivery_that_registered_first_wins_and_ours_is_deregistered() {
    // Both deliveries registered: ours is web:9, theirs web:8 (older). Ours is deregistered, web:8 deployed.
    let ours = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:9";
    let registered = mock!(aws_sdk_ecs::Client::register_task_definition).then_output(move || {
        aws_sdk_ecs::operation::register_task_definition::RegisterTaskDefinitionOutput::builder()
            .task_definition(TaskDefinition::builder().task_definition_arn(ours).revision(9).build())
            .build()
    });
    // The first listing (before registering) does not show theirs yet; the second does.
    let before = mock!(aws_sdk_ecs::Client::list_task_definitions).sequence().output(|| {
        aws_sdk_ecs::operation::list_task_definitions::ListTaskDefinitionsOutput::builder()
            .task_definition_arns(TD_ARN)
            .build()
    });
    let after = before.output(move || {
        aws_sdk_ecs::operation::list_task_definitions::ListTaskDefinitionsOutput::builder()
            .task_definition_arns(ours)
            .task_definition_arns(NEW_TD_ARN)
            .task_definition_arns(TD_ARN)
            .build()
    });
    let world = World {
        overrides: vec![
            Op::Ecs(after.repeatedly().build()),
            Op::Ecs(web_8_of_this_job()),
            Op::Ecs(registered),
            Op::Ecs(no_deployments_listed()),
        ],
        ..World::default()
    };
    let (handler, sent) = world.handler();
    handler.handle(invocation(deploy_event(r#"{"cluster":"demo","service":"web","wait":false}"#))).await.unwrap();
    assert_eq!(sent.deregistered.lock().unwrap().clone(), vec![ours.to_owned()]);
    assert_eq!(sent.updated()[0].task_definition(), Some(NEW_TD_ARN), "the older revision of this job is deployed");
    assert_eq!(sent.only_success().output_variables().unwrap()["TaskDefinitionArn"], NEW_TD_ARN);
}

#[tokio::test]
async fn a_slow_report_is_given_up_before_the_lambda_deadline() {
    // CodePipeline answers the report after 30 s; Lambda's deadline is 4 s away.
    let world = World { pipeline_delay: Some(Duration::from_secs(30)), ..World::default() };
    let (handler, _sent) = world.handler();
    let mut context = Context::default();
    context.deadline =
        (SystemTime::now() + Duration::from_secs(4)).duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
    let started = std::time::Instant::now();
    let answer = handler
        .handle(LambdaEvent::new(deploy_event(r#"{"cluster":"demo","service":"web","wait":false}"#), context))
        .await;
    assert!(started.elapsed() < Duration::from_secs(4), "answered Lambda before its deadline: {:?}", started.elapsed());
    let error = answer.unwrap_err();
    assert_eq!(error.error_type, "ReportNotDelivered");
}
