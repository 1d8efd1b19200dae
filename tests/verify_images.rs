//! `verifyImages`: the images a release sets are looked up in ECR (DescribeImages, in each image's own registry
//! and region) before anything is registered; what we sent to ECR, and what the pipeline is told.

mod common;

use aws_sdk_ecr::operation::describe_images::DescribeImagesError;
use aws_smithy_mocks::mock;
use aws_smithy_types::error::ErrorMetadata;
use common::*;

const NO_WAIT: &str = r#"{"cluster":"demo","service":"web","wait":false}"#;

fn world_deploying(images: &[(&str, &str)]) -> World {
    World { archive: zip_of(&[("imagedefinitions.json", &image_definitions(images), true)]), ..World::default() }
}

fn summary(sent: &Sent) -> String {
    sent.only_success().execution_details().unwrap().summary().unwrap().to_owned()
}

/// (registryId, repository, tag, digest) of each lookup, in the order sent.
fn lookups(sent: &Sent) -> Vec<(String, String, Vec<String>)> {
    sent.ecr_lookups()
        .iter()
        .map(|l| {
            let ids = l
                .image_ids()
                .iter()
                .map(|i| i.image_tag().map(|t| format!("tag {t}")).or(i.image_digest().map(|d| format!("digest {d}"))))
                .map(Option::unwrap_or_default)
                .collect();
            (l.registry_id().unwrap_or_default().to_owned(), l.repository_name().unwrap_or_default().to_owned(), ids)
        })
        .collect()
}

#[tokio::test]
async fn the_new_image_is_looked_up_in_its_registry_and_its_digest_reported() {
    let (handler, sent) = World::default().handler();
    handler.handle(invocation(deploy_event(NO_WAIT))).await.unwrap();
    // Only the image that changes: the log router runs what it ran (and is not in a private registry).
    assert_eq!(lookups(&sent), [("123456789012".to_owned(), "web".to_owned(), vec!["tag 2222222".to_owned()])]);
    assert_eq!(sent.ecr_hosts.all(), ["api.ecr.us-east-1.amazonaws.com"]);
    assert_eq!(sent.registered().len(), 1);
    assert!(summary(&sent).contains(&format!("verified in ECR: {NEW_IMAGE} is {DIGEST}")), "{}", summary(&sent));
}

#[tokio::test]
async fn an_image_in_another_account_and_region_is_looked_up_there() {
    let image = "111111111111.dkr.ecr.eu-west-1.amazonaws.com/web:2222222";
    let (handler, sent) = world_deploying(&[("web", image)]).handler();
    handler.handle(invocation(deploy_event(NO_WAIT))).await.unwrap();
    assert_eq!(lookups(&sent), [("111111111111".to_owned(), "web".to_owned(), vec!["tag 2222222".to_owned()])]);
    assert_eq!(sent.ecr_hosts.all(), ["api.ecr.eu-west-1.amazonaws.com"]);
    assert!(summary(&sent).contains(&format!("verified in ECR: {image} is {DIGEST}")));
}

#[tokio::test]
async fn a_digest_is_looked_up_by_digest_and_an_untagged_image_as_latest() {
    let by_digest = format!("123456789012.dkr.ecr.us-east-1.amazonaws.com/web@{DIGEST}");
    let world = World {
        ecr: vec![EcrImage::new("web", &["2222222"], DIGEST, 1), EcrImage::new("sidecar", &["latest"], OLD_DIGEST, 1)],
        ..world_deploying(&[
            ("web", by_digest.as_str()),
            ("log-router", "123456789012.dkr.ecr.us-east-1.amazonaws.com/sidecar"),
        ])
    };
    let (handler, sent) = world.handler();
    handler.handle(invocation(deploy_event(NO_WAIT))).await.unwrap();
    let mut seen = lookups(&sent);
    seen.sort();
    assert_eq!(
        seen,
        [
            ("123456789012".to_owned(), "sidecar".to_owned(), vec!["tag latest".to_owned()]),
            ("123456789012".to_owned(), "web".to_owned(), vec![format!("digest {DIGEST}")]),
        ]
    );
    assert_eq!(sent.registered().len(), 1);
}

#[tokio::test]
async fn a_missing_tag_is_refused_before_anything_changes_naming_the_closest_tags() {
    let world = World {
        ecr: vec![
            EcrImage::new("web", &["1111111"], OLD_DIGEST, 1_700_000_000),
            EcrImage::new("web", &["2222222"], DIGEST, 1_700_000_600),
            EcrImage::new("web", &["2222221"], "sha256:21", 1_700_000_300),
        ],
        ..world_deploying(&[("web", "123456789012.dkr.ecr.us-east-1.amazonaws.com/web:2222223")])
    };
    let (handler, sent) = world.handler();
    handler.handle(invocation(deploy_event(NO_WAIT))).await.unwrap();
    let (kind, message) = sent.only_failure();
    assert_eq!(kind, "ConfigurationError");
    assert_says(
        &message,
        &[
            "image 123456789012.dkr.ecr.us-east-1.amazonaws.com/web:2222223 was not found in ECR",
            "tag \"2222223\" is not in repository \"web\" (registry 123456789012, us-east-1; looked up with the function's own credentials)",
            // Both one character off, newest first; 1111111 is not close.
            "the closest tags, most recent first: \"2222222\" (pushed 2023-11-14T22:23:20Z), \"2222221\" (pushed 2023-11-14T22:18:20Z)",
            "Fix: push the image",
            "\"verifyImages\": false",
        ],
    );
    assert!(!message.contains("1111111"), "{message}");
    assert!(sent.registered().is_empty() && sent.updated().is_empty());
    // One lookup of the image, one listing of the repository's tags.
    assert_eq!(sent.ecr_lookups().len(), 2);
    assert!(sent.ecr_lookups()[1].image_ids().is_empty());
}

#[tokio::test]
async fn nothing_close_names_the_most_recent_tags_and_a_missing_repository_is_named() {
    let world = world_deploying(&[("web", "123456789012.dkr.ecr.us-east-1.amazonaws.com/web:release-42")]);
    let (handler, sent) = world.handler();
    handler.handle(invocation(deploy_event(NO_WAIT))).await.unwrap();
    let (kind, message) = sent.only_failure();
    assert_eq!(kind, "ConfigurationError");
    assert!(
        message.contains("its most recent tags: \"2222222\" (pushed 2023-11-14T22:23:20Z), \"1111111\""),
        "{message}"
    );

    let world = world_deploying(&[("web", "123456789012.dkr.ecr.us-east-1.amazonaws.com/api:2222222")]);
    let (handler, sent) = world.handler();
    handler.handle(invocation(deploy_event(NO_WAIT))).await.unwrap();
    let (kind, message) = sent.only_failure();
    assert_eq!(kind, "ConfigurationError");
    assert!(message.contains("repository \"api\" does not exist in registry 123456789012 (us-east-1; looked up with the function's own credentials)"), "{message}");
    assert!(sent.registered().is_empty() && sent.updated().is_empty());
}

#[tokio::test]
async fn access_denied_is_a_permission_error_with_the_fix() {
    let world = World {
        overrides: vec![Op::Ecr(mock!(aws_sdk_ecr::Client::describe_images).then_error(|| {
            DescribeImagesError::generic(
                ErrorMetadata::builder()
                    .code("AccessDeniedException")
                    .message("User: arn:aws:sts::123456789012:assumed-role/fn is not authorized to perform: ecr:DescribeImages")
                    .build(),
            )
        }))],
        ..World::default()
    };
    let (handler, sent) = world.handler();
    handler.handle(invocation(deploy_event(NO_WAIT))).await.unwrap();
    let (kind, message) = sent.only_failure();
    assert_eq!(kind, "PermissionError");
    assert_says(
        &message,
        &[
            "DescribeImages for ECR repository arn:aws:ecr:us-east-1:123456789012:repository/web (looked up with the function's own credentials) failed",
            "AccessDeniedException",
            "allow the function's role ecr:DescribeImages on this repository",
            "Sid VerifyImages",
            "or set \"verifyImages\": false",
        ],
    );
    assert!(sent.registered().is_empty());
}

#[tokio::test]
async fn images_outside_ecr_are_said_not_verified_and_verify_images_false_looks_nothing_up() {
    let world = world_deploying(&[("web", NEW_IMAGE), ("log-router", "docker.io/amazon/aws-for-fluent-bit:2.32.0")]);
    let (handler, sent) = world.handler();
    handler.handle(invocation(deploy_event(NO_WAIT))).await.unwrap();
    assert_eq!(sent.ecr_lookups().len(), 1);
    let text = summary(&sent);
    assert!(text.contains("not verified: docker.io/amazon/aws-for-fluent-bit:2.32.0 is not in a private ECR registry"));
    assert!(text.contains(&format!("verified in ECR: {NEW_IMAGE} is {DIGEST}")));

    // A tag ECR does not have, deployed anyway because the check is off.
    let missing = "123456789012.dkr.ecr.us-east-1.amazonaws.com/web:9999999";
    let (handler, sent) = world_deploying(&[("web", missing)]).handler();
    let off = r#"{"cluster":"demo","service":"web","wait":false,"verifyImages":false}"#;
    handler.handle(invocation(deploy_event(off))).await.unwrap();
    assert!(sent.ecr_lookups().is_empty());
    assert_eq!(sent.registered()[0].container_definitions()[0].image(), Some(missing));
    assert!(summary(&sent).contains(&format!("not verified: {missing} (verifyImages is false)")));
}

#[tokio::test]
async fn a_dry_run_verifies_too() {
    let (handler, sent) = World::default().handler();
    handler.handle(invocation(deploy_event(r#"{"cluster":"demo","service":"web","dryRun":true}"#))).await.unwrap();
    assert!(summary(&sent).contains(&format!("verified in ECR: {NEW_IMAGE} is {DIGEST}")));
    assert!(sent.registered().is_empty());

    let (handler, sent) =
        world_deploying(&[("web", "123456789012.dkr.ecr.us-east-1.amazonaws.com/web:2222223")]).handler();
    handler.handle(invocation(deploy_event(r#"{"cluster":"demo","service":"web","dryRun":true}"#))).await.unwrap();
    assert_eq!(sent.only_failure().0, "ConfigurationError");
}

#[tokio::test]
async fn an_image_the_service_already_runs_is_not_looked_up() {
    let (handler, sent) = world_deploying(&[("web", OLD_IMAGE)]).handler();
    handler.handle(invocation(deploy_event(NO_WAIT))).await.unwrap();
    assert!(sent.ecr_lookups().is_empty());
    assert!(summary(&sent).contains("the service already runs these images"));
}

#[tokio::test]
async fn the_repository_s_tags_are_read_page_by_page() {
    use aws_sdk_ecr::operation::describe_images::DescribeImagesOutput;
    use aws_sdk_ecr::types::ImageDetail;
    let page = |tag: &str, pushed: i64, next: Option<&str>| {
        DescribeImagesOutput::builder()
            .image_details(
                ImageDetail::builder()
                    .image_tags(tag)
                    .image_digest("sha256:00")
                    .image_pushed_at(aws_smithy_types::DateTime::from_secs(pushed))
                    .build(),
            )
            .set_next_token(next.map(str::to_owned))
            .build()
    };
    let (first, second) = (page("2222222", 1_700_000_000, Some("page-2")), page("2222223", 1_700_000_600, None));
    // The second page only for the token the first one gave.
    let listing = mock!(aws_sdk_ecr::Client::describe_images)
        .match_requests(|r| r.image_ids().is_empty())
        .then_compute_output(move |r| match r.next_token() {
            Some("page-2") => second.clone(),
            _ => first.clone(),
        });
    let world = World {
        overrides: vec![Op::Ecr(listing)],
        ..world_deploying(&[("web", "123456789012.dkr.ecr.us-east-1.amazonaws.com/web:2222224")])
    };
    let (handler, sent) = world.handler();
    handler.handle(invocation(deploy_event(NO_WAIT))).await.unwrap();
    let (_, message) = sent.only_failure();
    // Both pages' tags, newest first.
    assert!(
        message.contains("the closest tags, most recent first: \"2222223\" (pushed 2023-11-14T22:23:20Z), \"2222222\""),
        "{message}"
    );
}
