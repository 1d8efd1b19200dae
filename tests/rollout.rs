//! Following a v1 token's rollout (DescribeServices, as the first release did): each continuation invocation
//! looks once, reports once and never sleeps; a rollback, a replaced deployment or a timeout fail the job with
//! the reasons.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_ecs::types::*;
use common::*;
use lambda_runtime::{Context, LambdaEvent};
use serde_json::Value;
use tokio::time::Instant;

const JOBS: [&str; 4] = [
    "10000000-0000-4000-8000-000000000001",
    "10000000-0000-4000-8000-000000000002",
    "10000000-0000-4000-8000-000000000003",
    "10000000-0000-4000-8000-000000000004",
];

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

/// A v1 token, as the first release wrote them: still followed to its end after an upgrade.
fn token(deadline_in: i64) -> String {
    serde_json::json!({
        "v": 1,
        "cluster": CLUSTER_ARN,
        "service": SERVICE_ARN,
        "deploymentId": NEW_DEPLOYMENT,
        "taskDefinitionArn": NEW_TD_ARN,
        "startedAt": now() - 60,
        "deadline": now() + deadline_in,
        "timeoutMinutes": 1,
        "polls": 0,
    })
    .to_string()
}

fn rolling(running: i32) -> Service {
    service(
        NEW_TD_ARN,
        vec![
            deployment(NEW_DEPLOYMENT, "PRIMARY", NEW_TD_ARN, DeploymentRolloutState::InProgress, running, 4),
            deployment(OLD_DEPLOYMENT, "ACTIVE", TD_ARN, DeploymentRolloutState::Completed, 4 - running, 0),
        ],
    )
}

fn completed() -> Service {
    service(
        NEW_TD_ARN,
        vec![deployment(NEW_DEPLOYMENT, "PRIMARY", NEW_TD_ARN, DeploymentRolloutState::Completed, 4, 4)],
    )
}

fn rolled_back() -> Service {
    let failed = with(deployment(NEW_DEPLOYMENT, "ACTIVE", NEW_TD_ARN, DeploymentRolloutState::Failed, 0, 4), |d| {
        d.rollout_state_reason = Some("ECS deployment circuit breaker: tasks failed to start.".into());
        d.failed_tasks = 3;
        d.created_at = Some(aws_smithy_types::DateTime::from_secs(now() - 120));
    });
    let rollback =
        deployment("ecs-svc/3000000000000000003", "PRIMARY", TD_ARN, DeploymentRolloutState::InProgress, 2, 4);
    with(service(TD_ARN, vec![rollback, failed]), |s| {
        s.events = Some(vec![
            service_event(now() - 5, "(service web) rolling back to deployment ecs-svc/3000000000000000003."),
            service_event(
                now() - 10,
                "(service web) deployment ecs-svc/2000000000000000002 deployment failed: tasks failed to start.",
            ),
            service_event(now() - 100_000, "(service web) has reached a steady state."),
        ])
    })
}

fn crashed_task(id: &str) -> Task {
    Task::builder()
        .task_arn(format!("arn:aws:ecs:us-east-1:123456789012:task/demo/{id}"))
        .started_by(NEW_DEPLOYMENT)
        .stop_code(TaskStopCode::EssentialContainerExited)
        .stopped_reason("Essential container in task exited")
        .containers(
            Container::builder()
                .name("web")
                .exit_code(137)
                .reason("OutOfMemoryError: Container killed due to memory usage")
                .build(),
        )
        .build()
}

fn continuation(job: &str, token: &str) -> LambdaEvent<Value> {
    invocation(continuation_event(job, token))
}

#[tokio::test(start_paused = true)]
async fn a_rollout_that_completes_succeeds_after_continuations_without_sleeping() {
    let world = World { service: rolling(1), rollout: vec![rolling(3), completed()], ..World::default() };
    let (handler, sent) = world.handler();
    let started = Instant::now();
    // A rollout the first release started (its v1 token), followed to its end by this version.
    let mut token = token(600);
    let mut percents = Vec::new();
    for job in JOBS {
        handler.handle(continuation(job, &token)).await.unwrap();
        let last = sent.successes().last().unwrap().clone();
        assert_eq!(last.job_id(), Some(job));
        match last.continuation_token() {
            Some(next) => {
                percents.push(last.execution_details().unwrap().percent_complete().unwrap());
                assert!(last.output_variables().is_none());
                token = next.to_owned();
            }
            None => {
                let variables = last.output_variables().unwrap();
                assert_eq!(variables["DeploymentId"], NEW_DEPLOYMENT);
                assert_eq!(variables["TaskDefinitionArn"], NEW_TD_ARN);
                assert_eq!(variables["TaskDefinitionRevision"], "8");
                let summary = last.execution_details().unwrap().summary().unwrap();
                assert!(summary.contains("Deployment ecs-svc/2000000000000000002 of web:8 completed"), "{summary}");
                break;
            }
        }
    }
    assert_eq!(percents, vec![25, 75], "each continuation reports running/desired");
    assert_eq!(sent.reports(), 3, "one report per job: two continuations, the completion");
    assert!(sent.failures().is_empty());
    assert_eq!(Instant::now(), started, "no invocation slept");
}

#[tokio::test(start_paused = true)]
async fn a_circuit_breaker_rollback_fails_with_the_reasons() {
    let world = World {
        service: rolled_back(),
        stopped_tasks: vec![crashed_task("aaaa1111"), crashed_task("bbbb2222")],
        ..World::default()
    };
    let (handler, sent) = world.handler();
    let started = Instant::now();
    handler.handle(continuation(JOBS[0], &token(600))).await.unwrap();
    let (failure_type, message) = sent.only_failure();
    assert_eq!(failure_type, "JobFailed");
    assert_says(
        &message,
        &[
            "ECS marked deployment ecs-svc/2000000000000000002 of web:8 FAILED: ECS deployment circuit breaker: tasks failed to start. (3 tasks failed)",
            "The service now runs web:7.",
            "- 2 tasks (EssentialContainerExited): Essential container in task exited; container web: exit code 137, OutOfMemoryError: Container killed due to memory usage (tasks aaaa1111, bbbb2222)",
            "deployment failed: tasks failed to start.",
            "rolling back to deployment ecs-svc/3000000000000000003",
        ],
    );
    assert!(!message.contains("steady state"), "events from before the deployment are left out: {message}");
    assert!(message.find("circuit breaker").unwrap() < message.find("aaaa1111").unwrap(), "the reason comes first");
    assert_eq!(Instant::now(), started);
}

#[tokio::test]
async fn a_replaced_deployment_fails_and_names_its_replacement() {
    let replaced = service(
        "arn:aws:ecs:us-east-1:123456789012:task-definition/web:9",
        vec![
            deployment(
                "ecs-svc/4000000000000000004",
                "PRIMARY",
                "arn:aws:ecs:us-east-1:123456789012:task-definition/web:9",
                DeploymentRolloutState::InProgress,
                1,
                4,
            ),
            deployment(NEW_DEPLOYMENT, "ACTIVE", NEW_TD_ARN, DeploymentRolloutState::InProgress, 2, 4),
        ],
    );
    let (handler, sent) = World { service: replaced, ..World::default() }.handler();
    handler.handle(continuation(JOBS[0], &token(600))).await.unwrap();
    let (failure_type, message) = sent.only_failure();
    assert_eq!(failure_type, "JobFailed");
    assert!(
        message
            .contains("it is now ACTIVE; the service's PRIMARY deployment is now ecs-svc/4000000000000000004 of web:9"),
        "{message}"
    );

    let gone =
        service(TD_ARN, vec![deployment(OLD_DEPLOYMENT, "PRIMARY", TD_ARN, DeploymentRolloutState::Completed, 4, 4)]);
    let (handler, sent) = World { service: gone, ..World::default() }.handler();
    handler.handle(continuation(JOBS[0], &token(600))).await.unwrap();
    let (_, message) = sent.only_failure();
    assert!(message.contains("is no longer listed by the service; the service's PRIMARY deployment is now ecs-svc/1000000000000000001 of web:7"), "{message}");
}

#[tokio::test]
async fn a_rollout_past_its_deadline_times_out_with_diagnostics() {
    let world = World { service: rolling(1), stopped_tasks: vec![crashed_task("cccc3333")], ..World::default() };
    let (handler, sent) = world.handler();
    handler.handle(continuation(JOBS[0], &token(-1))).await.unwrap();
    let (failure_type, message) = sent.only_failure();
    assert_eq!(failure_type, "JobFailed");
    assert!(
        message.starts_with("Deployment ecs-svc/2000000000000000002 of web:8 timed out after 1 minutes"),
        "{message}"
    );
    assert!(message.contains("task cccc3333") && message.contains("Raise \"timeoutMinutes\""), "{message}");
}

#[tokio::test]
async fn without_rollout_state_the_services_stable_rule_decides() {
    let classic = |deployments: Vec<Deployment>, running: i32| {
        with(service(NEW_TD_ARN, deployments), |s| {
            s.running_count = running;
            s.desired_count = 4;
        })
    };
    let ours = |running| {
        with(deployment(NEW_DEPLOYMENT, "PRIMARY", NEW_TD_ARN, DeploymentRolloutState::InProgress, running, 4), |d| {
            d.rollout_state = None
        })
    };
    let old = with(deployment(OLD_DEPLOYMENT, "ACTIVE", TD_ARN, DeploymentRolloutState::InProgress, 2, 0), |d| {
        d.rollout_state = None
    });
    let world =
        World { service: classic(vec![ours(2), old], 4), rollout: vec![classic(vec![ours(4)], 4)], ..World::default() };
    let (handler, sent) = world.handler();
    handler.handle(continuation(JOBS[0], &token(600))).await.unwrap();
    let first = sent.successes()[0].clone();
    assert!(first.continuation_token().is_some(), "two deployments: not stable yet");
    assert_eq!(first.execution_details().unwrap().percent_complete(), Some(50));
    handler.handle(continuation(JOBS[1], first.continuation_token().unwrap())).await.unwrap();
    let second = sent.successes()[1].clone();
    assert!(second.continuation_token().is_none(), "one deployment, all tasks running: done");
}

#[tokio::test(start_paused = true)]
async fn a_near_deadline_is_answered_before_lambda_kills_the_process() {
    let deadline_in = |secs: u64| {
        let mut context = Context::default();
        context.deadline =
            (SystemTime::now() + Duration::from_secs(secs)).duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
        context
    };
    // A continuation whose DescribeServices does not answer in time: look again next time.
    let world = World { service: rolling(1), ecs_delay: Some(Duration::from_secs(120)), ..World::default() };
    let (handler, sent) = world.handler();
    let started = Instant::now();
    let event = LambdaEvent::new(continuation_event(JOBS[0], &token(600)), deadline_in(6));
    handler.handle(event).await.unwrap();
    assert!(Instant::now() - started < Duration::from_secs(6), "answered before the deadline");
    let success = sent.only_success();
    let next = tracker(success.continuation_token().unwrap());
    assert_eq!((next.t[0].deployment_id().as_deref(), next.polls), (Some(NEW_DEPLOYMENT), 1));

    // A first invocation stuck before UpdateService: fail, naming the step.
    let (handler, sent) = world.handler();
    let event = LambdaEvent::new(deploy_event(r#"{"cluster":"demo","service":"web"}"#), deadline_in(6));
    handler.handle(event).await.unwrap();
    let (failure_type, message) = sent.only_failure();
    assert_eq!(failure_type, "SystemUnavailable");
    assert!(message.contains("ran out of time while describing service web in cluster demo"), "{message}");
    assert!(sent.registered().is_empty() && sent.updated().is_empty());
}

#[tokio::test]
async fn unreadable_tokens_are_configuration_errors() {
    for (text, says) in [
        ("A continuation token if continuing job", "not one this function wrote"),
        (r#"{"v":7,"cluster":"c"}"#, "format version 7"),
        ("", "not one this function wrote"),
    ] {
        let (handler, sent) = World::default().handler();
        handler.handle(continuation(JOBS[0], text)).await.unwrap();
        let (failure_type, message) = sent.only_failure();
        assert_eq!(failure_type, "ConfigurationError");
        assert!(message.contains(says), "{message}");
    }
}

#[tokio::test]
async fn a_duplicate_continuation_reports_once() {
    let (handler, sent) = World { service: rolling(2), ..World::default() }.handler();
    let text = token(600);
    handler.handle(continuation(JOBS[0], &text)).await.unwrap();
    handler.handle(continuation(JOBS[0], &text)).await.unwrap();
    assert_eq!(sent.reports(), 1);
}
