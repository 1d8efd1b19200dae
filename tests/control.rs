//! Continue, rollback and promotion through the handler with mocked SDK clients: what we send to ECS, and
//! each refusal.

mod common;

use aws_sdk_ecs::types::*;
use aws_smithy_types::DateTime;
use common::*;
use ecs_deployer::config::Target;
use ecs_deployer::token::{Op, State};

fn targets() -> [Target; 1] {
    [Target::named("demo", "web")]
}

fn hook(id: &str, status: DeploymentLifecycleHookStatus) -> DeploymentLifecycleHookDetail {
    DeploymentLifecycleHookDetail::builder()
        .hook_id(id)
        .target_type(DeploymentLifecycleHookTargetType::Pause)
        .status(status)
        .expires_at(DateTime::from_secs(1_900_000_000))
        .timeout_action(DeploymentLifecycleHookAction::Rollback)
        .build()
}

fn paused_deployment(hooks: Vec<DeploymentLifecycleHookDetail>) -> ServiceDeployment {
    with(service_deployment("CANARY", "IN_PROGRESS", "POST_TEST_TRAFFIC_SHIFT", 4, 0.0), |sd| {
        sd.lifecycle_hook_details = Some(hooks)
    })
}

fn on_new_revision() -> Service {
    with(
        service(
            NEW_TD_ARN,
            vec![deployment(NEW_DEPLOYMENT, "PRIMARY", NEW_TD_ARN, DeploymentRolloutState::InProgress, 4, 4)],
        ),
        |s| s.current_service_deployment = Some(NEW_SD_ARN.into()),
    )
}

#[tokio::test]
async fn continue_names_the_waiting_hook_and_follows_until_the_next_pause() {
    let world = World {
        service: on_new_revision(),
        service_deployments: vec![paused_deployment(vec![hook(
            "approval",
            DeploymentLifecycleHookStatus::AwaitingAction,
        )])],
        ..World::default()
    };
    let (handler, sent) = world.handler();
    handler
        .handle(invocation(deploy_event(r#"{"action":"continue","cluster":"demo","service":"web","wait":"paused"}"#)))
        .await
        .unwrap();
    let continued = sent.continued();
    assert_eq!(continued.len(), 1);
    assert_eq!(continued[0].service_deployment_arn(), Some(NEW_SD_ARN));
    assert_eq!(continued[0].hook_id(), Some("approval"));
    assert_eq!(continued[0].action(), Some(&DeploymentLifecycleHookAction::Continue));
    assert!(sent.s3_ranges.lock().unwrap().is_empty(), "no artifact read");
    let success = sent.only_success();
    let token = tracker(success.continuation_token().unwrap());
    assert!(token.paused && token.op == Op::Continue && token.t[0].state() == State::Moving);
    assert_eq!(
        (token.revision(0, false, &targets()), token.revision(0, true, &targets())),
        (Some("web:8".to_owned()), Some("web:7".to_owned()))
    );
    let summary = success.execution_details().unwrap().summary().unwrap();
    assert!(
        summary.contains("Continued service deployment NewNewNewNewNewNewNew of web:8 at pause hook approval"),
        "{summary}"
    );
}

#[tokio::test]
async fn continue_refuses_what_it_cannot_continue() {
    let cases: Vec<(Vec<DeploymentLifecycleHookDetail>, &str, &str, &str)> = vec![
        (
            vec![],
            "",
            "ConfigurationError",
            "no hook of service deployment NewNewNewNewNewNewNew awaits action (it reports no lifecycle hooks)",
        ),
        (
            vec![
                hook("a", DeploymentLifecycleHookStatus::AwaitingAction),
                hook("b", DeploymentLifecycleHookStatus::AwaitingAction),
            ],
            "",
            "ConfigurationError",
            "several hooks of service deployment NewNewNewNewNewNewNew await action (its hooks: a (AWAITING_ACTION), b (AWAITING_ACTION)). Fix: set \"hookId\"",
        ),
        (
            vec![hook("a", DeploymentLifecycleHookStatus::Succeeded)],
            r#","hookId":"a""#,
            "JobFailed",
            "Pause hook a of service deployment NewNewNewNewNewNewNew (web:8) no longer waits: it is SUCCEEDED (it was continued already)",
        ),
        (
            vec![hook("a", DeploymentLifecycleHookStatus::TimedOut)],
            r#","hookId":"a""#,
            "JobFailed",
            "it is TIMED_OUT (its timeout expired and applied its timeout action)",
        ),
        (
            vec![hook("a", DeploymentLifecycleHookStatus::AwaitingAction)],
            r#","hookId":"b""#,
            "ConfigurationError",
            "has no lifecycle hook b (its hooks: a (AWAITING_ACTION))",
        ),
    ];
    for (hooks, extra, kind, words) in cases {
        let world = World {
            service: on_new_revision(),
            service_deployments: vec![paused_deployment(hooks)],
            ..World::default()
        };
        let (handler, sent) = world.handler();
        let params = format!(r#"{{"action":"continue","cluster":"demo","service":"web"{extra}}}"#);
        handler.handle(invocation(deploy_event(&params))).await.unwrap();
        let (got, message) = sent.only_failure();
        assert_eq!(got, kind, "{message}");
        assert!(message.contains(words), "{message:?} lacks {words:?}");
        assert!(sent.continued().is_empty());
    }
    let ended = with(service_deployment("CANARY", "ROLLBACK_SUCCESSFUL", "CLEAN_UP", 0, 0.0), |sd| {
        sd.status_reason = Some("Lifecycle hook a timed out.".into())
    });
    let world = World { service: on_new_revision(), service_deployments: vec![ended], ..World::default() };
    let (handler, sent) = world.handler();
    handler
        .handle(invocation(deploy_event(r#"{"action":"continue","cluster":"demo","service":"web"}"#)))
        .await
        .unwrap();
    let (got, message) = sent.only_failure();
    assert_eq!(got, "JobFailed");
    assert!(message.contains("has ended (ROLLBACK_SUCCESSFUL), so there is nothing to continue"), "{message}");
}

#[tokio::test]
async fn rollback_during_a_deployment_asks_ecs_to_roll_it_back_and_follows_that() {
    let world = World {
        service: on_new_revision(),
        service_deployments: vec![service_deployment("ROLLING", "IN_PROGRESS", "SCALE_UP", 1, 0.0)],
        ..World::default()
    };
    let (handler, sent) = world.handler();
    handler
        .handle(invocation(deploy_event(r#"{"action":"rollback","cluster":"demo","service":"web"}"#)))
        .await
        .unwrap();
    let stops = sent.stopped();
    assert_eq!(stops.len(), 1);
    assert_eq!(stops[0].stop_type(), Some(&StopServiceDeploymentStopType::Rollback));
    assert!(sent.updated().is_empty() && sent.registered().is_empty());
    let token = tracker(sent.only_success().continuation_token().unwrap());
    assert_eq!((token.op, token.t[0].state()), (Op::Rollback, State::Undoing));
    assert_eq!(token.revision(0, true, &targets()).as_deref(), Some("web:7"));

    // The follow: ROLLBACK_SUCCESSFUL is this action's success.
    let world = World {
        service_deployments: vec![service_deployment("ROLLING", "ROLLBACK_SUCCESSFUL", "CLEAN_UP", 0, 0.0)],
        ..World::default()
    };
    let (handler, sent) = world.handler();
    let text = token.encode().unwrap();
    handler.handle(invocation(continuation_event("30000000-0000-4000-8000-000000000001", &text))).await.unwrap();
    let success = sent.only_success();
    let vars = success.output_variables().unwrap();
    assert_eq!(vars["TaskDefinitionArn"], TD_ARN, "what runs now");
    assert_eq!(vars["RolledBackFrom"], NEW_TD_ARN);
    assert!(success.execution_details().unwrap().summary().unwrap().starts_with("Rolled back to web:7"));
}

#[tokio::test]
async fn rollback_with_nothing_in_progress_deploys_the_revision_the_last_success_replaced() {
    let world = World {
        service: on_new_revision(),
        service_deployments: vec![service_deployment("ROLLING", "SUCCESSFUL", "CLEAN_UP", 4, 0.0)],
        ..World::default()
    };
    let (handler, sent) = world.handler();
    handler
        .handle(invocation(deploy_event(r#"{"action":"rollback","cluster":"demo","service":"web","wait":false}"#)))
        .await
        .unwrap();
    let updated = sent.updated();
    assert_eq!(updated.len(), 1);
    assert_eq!(updated[0].task_definition(), Some(TD_ARN));
    assert!(sent.stopped().is_empty() && sent.registered().is_empty());
    let vars = sent.only_success().output_variables().unwrap().clone();
    assert_eq!(vars["TaskDefinitionArn"], TD_ARN);
    assert_eq!(vars["RolledBackFrom"], NEW_TD_ARN);

    // Rolling back to what already runs is refused.
    let world = World {
        service: on_new_revision(),
        service_deployments: vec![service_deployment("ROLLING", "SUCCESSFUL", "CLEAN_UP", 4, 0.0)],
        task_definition: with(task_definition(&[("web", NEW_IMAGE)]), |td| {
            td.task_definition_arn = Some(NEW_TD_ARN.into())
        }),
        ..World::default()
    };
    let (handler, sent) = world.handler();
    handler
        .handle(invocation(deploy_event(
            r#"{"action":"rollback","cluster":"demo","service":"web","taskDefinition":"web:8"}"#,
        )))
        .await
        .unwrap();
    let (kind, message) = sent.only_failure();
    assert_eq!(kind, "ConfigurationError");
    assert!(message.contains("already runs web:8, the revision to roll back to"), "{message}");
}

#[tokio::test]
async fn a_promotion_deploys_an_existing_revision_without_reading_or_registering() {
    let world = World { service: on_new_revision(), ..World::default() };
    let (handler, sent) = world.handler();
    handler
        .handle(invocation(deploy_event(r#"{"cluster":"demo","service":"web","taskDefinition":"web:7","wait":false}"#)))
        .await
        .unwrap();
    assert!(sent.s3_ranges.lock().unwrap().is_empty() && sent.registered().is_empty());
    assert_eq!(sent.updated()[0].task_definition(), Some(TD_ARN));
    let success = sent.only_success();
    assert_eq!(success.output_variables().unwrap()["TaskDefinitionArn"], TD_ARN);
    assert!(success.execution_details().unwrap().summary().unwrap().contains("Promoted web:7"));

    let retired = with(task_definition(&[("web", OLD_IMAGE)]), |td| td.status = Some(TaskDefinitionStatus::Inactive));
    let (handler, sent) = World { task_definition: retired, ..World::default() }.handler();
    handler
        .handle(invocation(deploy_event(r#"{"cluster":"demo","service":"web","taskDefinition":"web:7"}"#)))
        .await
        .unwrap();
    let (kind, message) = sent.only_failure();
    assert_eq!(kind, "ConfigurationError");
    assert!(
        message.contains("task definition web:7 is INACTIVE; only an ACTIVE revision can be deployed"),
        "{message}"
    );
    assert!(sent.updated().is_empty());
}

#[tokio::test]
async fn wait_paused_succeeds_at_the_pause_with_what_the_next_action_needs() {
    let (handler, sent) = World {
        service_deployments: vec![paused_deployment(vec![hook(
            "approval",
            DeploymentLifecycleHookStatus::AwaitingAction,
        )])],
        ..World::default()
    }
    .handler();
    handler.handle(invocation(deploy_event(r#"{"cluster":"demo","service":"web","wait":"paused"}"#))).await.unwrap();
    let token = sent.only_success().continuation_token().unwrap().to_owned();
    assert!(tracker(&token).paused);
    handler.handle(invocation(continuation_event("30000000-0000-4000-8000-000000000002", &token))).await.unwrap();
    let last = sent.successes().last().unwrap().clone();
    assert!(last.continuation_token().is_none());
    let vars = last.output_variables().unwrap();
    assert_eq!(vars["ServiceDeploymentArn"], NEW_SD_ARN);
    assert_eq!(vars["HookId"], "approval");
    assert_eq!(vars["LifecycleStage"], "POST_TEST_TRAFFIC_SHIFT");
    assert_eq!(vars["HookExpiresAt"], "2030-03-17T17:46:40Z");
    assert_eq!(vars["TaskDefinitionArn"], NEW_TD_ARN);
}
