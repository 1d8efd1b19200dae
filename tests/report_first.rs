//! Report first, then change, through the handler with mocked SDK clients: nothing changes before CodePipeline
//! took a report for the job; the next job finds out how the change went, makes a change not made itself
//! (under its own announcement), and reports what ECS refused.

mod common;

use aws_sdk_codepipeline::operation::put_job_success_result::PutJobSuccessResultError;
use aws_sdk_ecs::operation::register_task_definition::RegisterTaskDefinitionError;
use aws_smithy_mocks::mock;
use aws_smithy_types::error::ErrorMetadata;
use common::*;

const NO_WAIT: &str = r#"{"cluster":"demo","service":"web","wait":false}"#;
const NEXT: &str = "1b6a3e52-5f43-4d7e-9d64-1c2f3a4b5c6d";
const THIRD: &str = "2b6a3e52-5f43-4d7e-9d64-1c2f3a4b5c6d";

/// A later job of the action: the same UserParameters, CodePipeline's token.
fn continuation(job: &str, token: &str) -> lambda_runtime::LambdaEvent<serde_json::Value> {
    let mut event = continuation_event(job, token);
    event["CodePipeline.job"]["data"]["actionConfiguration"]["configuration"]["UserParameters"] = NO_WAIT.into();
    invocation(event)
}

fn protocol() -> World {
    World { report_first: true, ..World::default() }
}

fn with(world: World, op: Op) -> World {
    World { overrides: vec![op], ..world }
}

/// The index of the first `op` sent.
fn at(sent: &Sent, op: &str) -> usize {
    sent.order.all().iter().position(|o| o == op).unwrap_or_else(|| panic!("{op} was not sent: {:?}", sent.order.all()))
}

#[tokio::test]
async fn the_first_job_reports_before_it_changes_anything_and_the_next_job_reports_the_success() {
    let (handler, sent) = protocol().handler();
    let answer = handler.handle(invocation(deploy_event(NO_WAIT))).await.unwrap();
    assert_eq!(answer["outcome"], "in progress: the announced changes were made");
    // The announcement went out before the first change.
    assert!(at(&sent, "PutJobSuccessResult") < at(&sent, "RegisterTaskDefinition"), "{:?}", sent.order.all());
    assert_eq!((sent.registered().len(), sent.updated().len()), (1, 1));
    let announcement = sent.only_success();
    let summary = announcement.execution_details().unwrap().summary().unwrap();
    assert_says(
        summary,
        &["About to register a new revision of web (from web:7) and update service web", "the next job"],
    );
    assert!(announcement.output_variables().is_none(), "variables come with the final success");
    let token = announcement.continuation_token().expect("the announcement's token").to_owned();
    assert_eq!(tracker(&token).t[0].state(), ecs_deployer::token::State::Applying);
    // No ListTaskDefinitions: a duplicate of this job loses at its own announcement.
    assert!(!sent.order.all().iter().any(|o| o == "ListTaskDefinitions"), "{:?}", sent.order.all());

    // The next job sees the service moved, and the action ends (wait: false).
    handler.handle(continuation(NEXT, &token)).await.unwrap();
    let done = sent.successes().last().unwrap().clone();
    assert_eq!(done.continuation_token(), None);
    assert_eq!(done.output_variables().unwrap()["TaskDefinitionArn"], NEW_TD_ARN);
    assert_eq!(done.output_variables().unwrap()["ServiceDeploymentArn"], NEW_SD_ARN);
    let summary = done.execution_details().unwrap().summary().unwrap();
    assert!(summary.starts_with("Registered web:8 (from web:7) and updated service web in cluster demo."), "{summary}");
    assert_eq!((sent.registered().len(), sent.updated().len()), (1, 1), "the next job changed nothing");
}

#[tokio::test]
async fn a_forged_job_changes_nothing_and_is_logged_at_error_with_its_id() {
    let rule = mock!(aws_sdk_codepipeline::Client::put_job_success_result).then_error(|| {
        PutJobSuccessResultError::JobNotFoundException(
            aws_sdk_codepipeline::types::error::JobNotFoundException::builder().message("no such job").build(),
        )
    });
    let (logs, _guard) = capture_logs(true);
    let (handler, sent) = with(protocol(), Op::Pipeline(rule)).handler();
    let answer = handler.handle(invocation(deploy_event(NO_WAIT))).await.unwrap();
    assert_eq!(answer["outcome"], "unknown job: nothing changed");
    assert!(sent.registered().is_empty() && sent.updated().is_empty(), "{:?}", sent.order.all());
    let line = logs.text().lines().find(|l| l.contains("a forged invocation; nothing changes")).unwrap().to_owned();
    let line: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(line["level"], "ERROR");
    assert!(line.to_string().contains(JOB_ID), "{line}");
}

#[tokio::test]
async fn a_job_answered_already_changes_nothing() {
    let rule = mock!(aws_sdk_codepipeline::Client::put_job_success_result).then_error(|| {
        PutJobSuccessResultError::InvalidJobStateException(
            aws_sdk_codepipeline::types::error::InvalidJobStateException::builder().message("job is done").build(),
        )
    });
    let (handler, sent) = with(protocol(), Op::Pipeline(rule)).handler();
    let answer = handler.handle(invocation(deploy_event(NO_WAIT))).await.unwrap();
    assert_eq!(answer["outcome"], "duplicate: nothing changed");
    assert!(sent.registered().is_empty() && sent.updated().is_empty());
}

#[tokio::test]
async fn an_announcement_that_cannot_be_delivered_changes_nothing_and_fails_the_invocation() {
    let rule = mock!(aws_sdk_codepipeline::Client::put_job_success_result)
        .then_error(|| PutJobSuccessResultError::generic(ErrorMetadata::builder().code("InternalFailure").build()));
    let (handler, sent) = with(protocol(), Op::Pipeline(rule)).handler();
    let answer = handler.handle(invocation(deploy_event(NO_WAIT))).await;
    assert_eq!(answer.unwrap_err().error_type, "ReportNotDelivered", "Lambda delivers the job again");
    assert!(sent.registered().is_empty() && sent.updated().is_empty());
    assert!(sent.failures().is_empty(), "no failure report: the job goes on");
}

fn denied() -> Op {
    Op::Ecs(mock!(aws_sdk_ecs::Client::register_task_definition).then_error(|| {
        RegisterTaskDefinitionError::generic(
            ErrorMetadata::builder()
                .code("AccessDeniedException")
                .message("User: arn:aws:sts::123456789012:assumed-role/fn is not authorized to perform: iam:PassRole")
                .build(),
        )
    }))
}

#[tokio::test]
async fn a_change_ecs_refused_after_its_announcement_is_reported_by_the_next_job_on_the_process() {
    let (handler, sent) = with(protocol(), denied()).handler();
    handler.handle(invocation(deploy_event(NO_WAIT))).await.unwrap();
    let token = sent.only_success().continuation_token().unwrap().to_owned();
    assert!(sent.updated().is_empty());
    handler.handle(continuation(NEXT, &token)).await.unwrap();
    let failures = sent.failures();
    let details = failures[0].failure_details().unwrap();
    assert_eq!(details.r#type().as_str(), "PermissionError");
    assert_says(
        details.message(),
        &["ECS refused the changes job", "iam:PassRole", "allow the function's role iam:PassRole"],
    );
}

#[tokio::test(start_paused = true)]
async fn a_change_not_made_is_made_by_the_next_job_under_its_own_announcement() {
    // The first job announced, then its process ended before the change (here: a process whose registration
    // failed, so the next one, a fresh process, knows nothing of it).
    let (first, sent) = with(protocol(), denied()).handler();
    first.handle(invocation(deploy_event(NO_WAIT))).await.unwrap();
    let token = sent.only_success().continuation_token().unwrap().to_owned();

    // The next job, on another process: it looks, waits, looks again, then registers and updates itself,
    // having announced it first (a second announcement: tries 2).
    let (next, sent) = protocol().handler();
    next.handle(continuation(NEXT, &token)).await.unwrap();
    let announced = sent.only_success();
    let again = announced.continuation_token().unwrap().to_owned();
    assert_eq!(tracker(&again).tries, 2);
    assert!(at(&sent, "PutJobSuccessResult") < at(&sent, "RegisterTaskDefinition"), "{:?}", sent.order.all());
    assert_eq!((sent.registered().len(), sent.updated().len()), (1, 1));
    let describes = sent.order.all().iter().filter(|o| *o == "DescribeServices").count();
    assert!(describes >= 4, "looked, and looked again while waiting: {:?}", sent.order.all());
    // It registered once: the ListTaskDefinitions guard looks for a revision of this action first.
    assert!(sent.order.all().iter().any(|o| o == "ListTaskDefinitions"), "{:?}", sent.order.all());

    // The third job finds it made.
    next.handle(continuation(THIRD, &again)).await.unwrap();
    let done = sent.successes().last().unwrap().clone();
    assert_eq!(done.continuation_token(), None);
    assert_eq!(done.output_variables().unwrap()["TaskDefinitionArn"], NEW_TD_ARN);
}

#[tokio::test(start_paused = true)]
async fn a_change_announced_twice_and_never_made_ends_the_action() {
    let (first, sent) = with(protocol(), denied()).handler();
    first.handle(invocation(deploy_event(NO_WAIT))).await.unwrap();
    let token = sent.only_success().continuation_token().unwrap().to_owned();
    let (next, sent) = with(protocol(), denied()).handler();
    next.handle(continuation(NEXT, &token)).await.unwrap();
    let again = sent.only_success().continuation_token().unwrap().to_owned();
    // A third process, which saw neither refusal.
    let (third, sent) = with(protocol(), denied()).handler();
    third.handle(continuation(THIRD, &again)).await.unwrap();
    let (kind, message) = sent.only_failure();
    assert_eq!(kind, "JobFailed");
    assert_says(&message, &["were announced twice and never seen made", JOB_ID, "iam:PassRole"]);
    assert!(sent.registered().is_empty() && sent.updated().is_empty());
}
