//! Across accounts and regions, on real SDK clients with aws-smithy-mocks: one STS AssumeRole per distinct role
//! (and external id) per invocation, with the job in its session name; every ECS call of a target signed with
//! the role's credentials and sent to the target's region; AccessDenied a PermissionError before any change,
//! with the trust policy to add; ALLOWED_ROLE_ARNS enforced before any call.

mod common;

use common::*;

const ROLE: &str = "arn:aws:iam::210987654321:role/ecs-deployer-target";

#[tokio::test]
async fn a_target_in_another_account_and_region_is_reached_with_the_role_in_its_region() {
    let (handler, sent) = World::default().handler();
    let params = format!(
        r#"{{"cluster":"demo","service":"web","roleArn":"{ROLE}","externalId":"pipeline-7","region":"eu-west-1"}}"#
    );
    handler.handle(invocation(deploy_event(&params))).await.unwrap();
    let assumed = sent.assumed.lock().unwrap().clone();
    assert_eq!(assumed.len(), 1, "one AssumeRole for one role");
    let request = &assumed[0];
    assert_eq!(request.role_arn(), Some(ROLE));
    assert_eq!(request.external_id(), Some("pipeline-7"));
    let session = request.role_session_name().unwrap();
    assert!(session.starts_with("codepipeline-") && session.len() <= 64, "{session}");
    assert!(request.duration_seconds().unwrap() >= 900);
    let signers = sent.ecs_signers.all();
    assert!(!signers.is_empty() && signers.iter().all(|k| k == "ASIA210987654321"), "{signers:?}");
    let hosts = sent.ecs_hosts.all();
    assert!(hosts.iter().all(|h| h.contains("eu-west-1")), "{hosts:?}");
    let success = sent.only_success();
    let summary = success.execution_details().and_then(|d| d.summary()).unwrap_or_default();
    assert!(summary.contains("(account 210987654321, eu-west-1)"), "{summary}");
    assert!(!summary.contains("assumed-secret") && !summary.contains("assumed-token"));
    // The token holds no credentials: only what UserParameters cannot give back.
    let token = success.continuation_token().unwrap_or_default();
    assert!(!token.contains("ASIA") && !token.contains("assumed"), "{token}");
    let tracker = tracker(token);
    assert_eq!(
        tracker
            .deployment_arn(0, &ecs_deployer::config::parse(Some(&params)).unwrap().targets)
            .unwrap()
            .split(":service-deployment")
            .next(),
        Some("arn:aws:ecs:eu-west-1:210987654321")
    );
}

#[tokio::test]
async fn one_assume_role_per_distinct_role_and_clients_per_account_and_region() {
    let (handler, sent) = World::default().handler();
    let params = format!(
        r#"{{"roleArn":"{ROLE}","region":"eu-west-1","dryRun":true,"services":[
            {{"cluster":"a","service":"web"}},{{"cluster":"b","service":"web"}},
            {{"cluster":"c","service":"web","region":"us-west-2"}}]}}"#
    );
    handler.handle(invocation(deploy_event(&params))).await.unwrap();
    assert_eq!(sent.assumed.lock().unwrap().len(), 1, "the role once, for both regions");
    let hosts = sent.ecs_hosts.all();
    let describes = sent.order.all().iter().filter(|o| *o == "DescribeServices").count();
    assert_eq!(describes, 3, "{:?}", sent.order.all());
    assert!(hosts.iter().filter(|h| h.contains("eu-west-1")).count() >= 2, "{hosts:?}");
    assert!(hosts.iter().any(|h| h.contains("us-west-2")), "{hosts:?}");
    assert!(sent.ecs_signers.all().iter().all(|k| k == "ASIA210987654321"));
}

#[tokio::test]
async fn assume_role_denied_is_a_permission_error_before_any_change_with_the_trust_policy() {
    let world = World { sts_denied: true, ..World::default() };
    let (handler, sent) = world.handler();
    let params = format!(r#"{{"cluster":"demo","service":"web","roleArn":"{ROLE}","externalId":"pipeline-7"}}"#);
    handler.handle(invocation(deploy_event(&params))).await.unwrap();
    let (kind, message) = sent.only_failure();
    assert_eq!(kind, "PermissionError");
    assert_says(
        &message,
        &[
            &format!("STS AssumeRole of {ROLE} (to reach a target in account 210987654321) failed: AccessDenied"),
            "Deploy target-account-role.yaml in the role's account with FunctionRoleArn=arn:aws:iam::123456789012:role/ecs-deployer-role",
            r#"{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:role/ecs-deployer-role"}, "Action": "sts:AssumeRole", "Condition": {"StringEquals": {"sts:ExternalId""#,
        ],
    );
    assert!(sent.ecs_signers.all().is_empty(), "no ECS call: {:?}", sent.order.all());
}

#[tokio::test]
async fn a_role_outside_allowed_role_arns_is_refused_before_any_call() {
    let world = World::default();
    let sent = Sent::default();
    let guard = ecs_deployer::guard::Guard::default().with_roles(Some("arn:aws:iam::111111111111:role/deployer-*"));
    let handler = world.handler_with_guard(guard, &sent);
    let params = format!(r#"{{"cluster":"demo","service":"web","roleArn":"{ROLE}"}}"#);
    handler.handle(invocation(deploy_event(&params))).await.unwrap();
    let (kind, message) = sent.only_failure();
    assert_eq!(kind, "ConfigurationError");
    assert_says(
        &message,
        &[&format!("role {ROLE} is outside ALLOWED_ROLE_ARNS (arn:aws:iam::111111111111:role/deployer-*)")],
    );
    assert!(sent.assumed.lock().unwrap().is_empty() && sent.ecs_signers.all().is_empty());
}

#[tokio::test]
async fn a_deploy_file_cannot_name_an_account() {
    for file in [
        format!(r#"{{"roleArn": "{ROLE}"}}"#),
        format!(r#"{{"services": [{{"cluster": "demo", "service": "web", "roleArn": "{ROLE}"}}]}}"#),
        r#"{"region": "eu-west-1"}"#.to_owned(),
    ] {
        let archive = zip_of(&[
            ("imagedefinitions.json", &image_definitions(&[("web", NEW_IMAGE)]), true),
            ("deploy.json", file.as_bytes(), true),
        ]);
        let world = World { archive, ..World::default() };
        let (handler, sent) = world.handler();
        handler.handle(invocation(deploy_event(r#"{"deployFile": "deploy.json"}"#))).await.unwrap();
        let (kind, message) = sent.only_failure();
        assert_eq!(kind, "ConfigurationError", "{file}");
        assert_says(&message, &["which only UserParameters may set", "the pipeline says where a release goes"]);
        assert!(sent.assumed.lock().unwrap().is_empty() && sent.ecs_signers.all().is_empty());
    }
}
