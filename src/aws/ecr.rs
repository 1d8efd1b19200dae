//! `verifyImages`: every ECR image a release sets is looked up in its own registry and region before anything
//! changes, so a typo'd tag is refused in milliseconds instead of ECS starting tasks that fail with
//! CannotPullContainerError until the circuit breaker gives up. The ECR calls live here, each error wrapped
//! with the repository; which tags to suggest is decided by a pure function.

use aws_sdk_ecr::operation::describe_images::DescribeImagesError;
use aws_sdk_ecr::types::{DescribeImagesFilter, ImageIdentifier, TagStatus};
use aws_smithy_types::date_time::Format;
use futures_util::future::try_join_all;

use crate::aws::clients::{Reach, Reaches};
use crate::error::{Error, aws};
use crate::images::{self, EcrId, EcrImage};
use crate::text::edit_distance;

/// How many tags a "not found" message suggests.
const SUGGESTIONS: usize = 5;
/// DescribeImages' page size limit; the tags considered for suggestions are at most this many pages.
const PAGE: i32 = 1000;
const MAX_PAGES: usize = 5;

/// What `verifyImages` found for one image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageCheck {
    /// In ECR, with the digest its tag points at now (ECS resolves the same tag when tasks start).
    Found { image: String, digest: String },
    /// Not a private ECR image (Docker Hub, ECR Public, another registry): not looked up.
    NotEcr { image: String },
    /// `verifyImages` is false.
    Unchecked { image: String },
}

/// Looks every image of `images` (distinct) up, all at once, when `enabled` (`verifyImages`). The first image
/// that is missing, or that cannot be looked up, ends the release before anything is registered.
///
/// An image in the registry of a target's account is looked up with that target's role; any other with the
/// function's own credentials (a registry in another account must allow the function's role).
pub async fn verify(reaches: &Reaches, images: Vec<String>, enabled: bool) -> Result<Vec<ImageCheck>, Error> {
    if !enabled {
        return Ok(images.into_iter().map(|image| ImageCheck::Unchecked { image }).collect());
    }
    try_join_all(images.iter().map(|image| check(reaches, image))).await
}

/// Whose credentials looked an image up, for the refusal.
fn who(reach: &Reach) -> String {
    match &reach.account {
        Some(account) => format!("looked up with the target role's credentials in account {account}"),
        None => "looked up with the function's own credentials".to_owned(),
    }
}

/// The summary's lines for the checks: the digest each ECR image has now, and which images were not checked.
pub fn describe(checks: &[ImageCheck]) -> Vec<String> {
    checks
        .iter()
        .map(|c| match c {
            ImageCheck::Found { image, digest } => format!("verified in ECR: {image} is {digest}"),
            ImageCheck::NotEcr { image } => format!("not verified: {image} is not in a private ECR registry"),
            ImageCheck::Unchecked { image } => format!("not verified: {image} (verifyImages is false)"),
        })
        .collect()
}

async fn check(reaches: &Reaches, image: &str) -> Result<ImageCheck, Error> {
    let Some(reference) = images::ecr(image) else {
        return Ok(ImageCheck::NotEcr { image: image.to_owned() });
    };
    let reach = reaches.for_account(reference.account);
    let ecr = reach.ecr(reference.region, reference.fips);
    let id = match reference.id {
        EcrId::Tag(tag) => ImageIdentifier::builder().image_tag(tag).build(),
        EcrId::Digest(digest) => ImageIdentifier::builder().image_digest(digest).build(),
    };
    let answer = ecr
        .describe_images()
        .registry_id(reference.account)
        .repository_name(reference.repository)
        .image_ids(id)
        .send()
        .await;
    match answer {
        Ok(out) => match out.image_details().iter().find_map(|d| d.image_digest()) {
            Some(digest) => Ok(ImageCheck::Found { image: image.to_owned(), digest: digest.to_owned() }),
            None => Err(missing(&ecr, image, &reference, reach).await),
        },
        Err(e) => match e.as_service_error() {
            Some(DescribeImagesError::ImageNotFoundException(_)) => Err(missing(&ecr, image, &reference, reach).await),
            Some(DescribeImagesError::RepositoryNotFoundException(_)) => Err(Error::ImageNotInEcr {
                image: image.to_owned(),
                problem: format!(
                    "repository \"{}\" does not exist in registry {} ({}; {})",
                    reference.repository,
                    reference.account,
                    reference.region,
                    who(reach)
                ),
            }),
            _ => Err(aws("DescribeImages", format!("{} ({})", resource(&reference), who(reach)))(e)),
        },
    }
}

/// How errors name the repository (the ARN an IAM policy would grant).
fn resource(reference: &EcrImage<'_>) -> String {
    format!("ECR repository {}", reference.repository_arn())
}

/// The image is not in its repository: say so, with the tags that are there.
async fn missing(ecr: &aws_sdk_ecr::Client, image: &str, reference: &EcrImage<'_>, reach: &Reach) -> Error {
    let (what, wanted) = match reference.id {
        EcrId::Tag(tag) => (format!("tag \"{tag}\""), Some(tag)),
        EcrId::Digest(digest) => (format!("digest {digest}"), None),
    };
    let mut problem = format!(
        "{what} is not in repository \"{}\" (registry {}, {}; {})",
        reference.repository,
        reference.account,
        reference.region,
        who(reach)
    );
    match tags(ecr, reference).await {
        Ok(tags) => problem.push_str(&match suggest(wanted, &tags) {
            Suggestion::Close(close) => format!("; the closest tags, most recent first: {}", list(&close)),
            Suggestion::Recent(recent) => format!("; its most recent tags: {}", list(&recent)),
            Suggestion::Empty => "; the repository has no tagged images".to_owned(),
        }),
        Err(e) => problem.push_str(&format!(" (its tags could not be listed: {e})")),
    }
    Error::ImageNotInEcr { image: image.to_owned(), problem }
}

fn list(tags: &[&Tagged]) -> String {
    tags.iter()
        .map(|t| match t.pushed.and_then(|p| p.fmt(Format::DateTime).ok()) {
            Some(at) => format!("\"{}\" (pushed {at})", t.tag),
            None => format!("\"{}\"", t.tag),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// One tag in the repository and when its image was pushed.
#[derive(Debug, Clone, PartialEq)]
pub struct Tagged {
    pub tag: String,
    pub pushed: Option<aws_smithy_types::DateTime>,
}

/// The repository's tagged images, newest pages first as ECR returns them (at most [`MAX_PAGES`] pages).
async fn tags(ecr: &aws_sdk_ecr::Client, reference: &EcrImage<'_>) -> Result<Vec<Tagged>, Error> {
    let mut found = Vec::new();
    let mut next: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let page = ecr
            .describe_images()
            .registry_id(reference.account)
            .repository_name(reference.repository)
            .filter(DescribeImagesFilter::builder().tag_status(TagStatus::Tagged).build())
            .max_results(PAGE)
            .set_next_token(next.take())
            .send()
            .await
            .map_err(aws("DescribeImages", resource(reference)))?;
        for detail in page.image_details() {
            for tag in detail.image_tags() {
                found.push(Tagged { tag: tag.clone(), pushed: detail.image_pushed_at().copied() });
            }
        }
        match page.next_token() {
            Some(token) if !token.is_empty() => next = Some(token.to_owned()),
            _ => break,
        }
    }
    Ok(found)
}

/// Which tags a "not found" message names.
#[derive(Debug, PartialEq)]
pub enum Suggestion<'a> {
    /// Tags close to the one asked for (a typo, a short/long commit SHA, another case), most recent first.
    Close(Vec<&'a Tagged>),
    /// Nothing close (or a digest was asked for): the most recent tags.
    Recent(Vec<&'a Tagged>),
    Empty,
}

/// Picks the tags to suggest for a missing `wanted` tag (`None`: a missing digest). Pure.
pub fn suggest<'a>(wanted: Option<&str>, tags: &'a [Tagged]) -> Suggestion<'a> {
    if tags.is_empty() {
        return Suggestion::Empty;
    }
    let mut by_recency: Vec<&Tagged> = tags.iter().collect();
    // Most recent first; tags pushed at the same moment in name order, so the message is stable.
    by_recency.sort_by(|a, b| {
        let when = |t: &Tagged| t.pushed.map(|p| (p.secs(), p.subsec_nanos()));
        when(b).cmp(&when(a)).then_with(|| a.tag.cmp(&b.tag))
    });
    let close: Vec<&Tagged> = match wanted {
        Some(wanted) => by_recency.iter().copied().filter(|t| is_close(wanted, &t.tag)).take(SUGGESTIONS).collect(),
        None => Vec::new(),
    };
    if close.is_empty() {
        Suggestion::Recent(by_recency.into_iter().take(SUGGESTIONS).collect())
    } else {
        Suggestion::Close(close)
    }
}

/// A tag that is probably the one meant: a few characters off, another case, or the same commit SHA written
/// shorter or longer.
fn is_close(wanted: &str, tag: &str) -> bool {
    let prefix = |a: &str, b: &str| a.len() >= 4 && b.starts_with(a);
    wanted.eq_ignore_ascii_case(tag)
        || prefix(wanted, tag)
        || prefix(tag, wanted)
        || edit_distance(wanted, tag) <= (wanted.chars().count() / 4).max(2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_types::DateTime;

    fn tagged(tag: &str, pushed: i64) -> Tagged {
        Tagged { tag: tag.into(), pushed: Some(DateTime::from_secs(pushed)) }
    }

    fn names(s: &Suggestion<'_>) -> (&'static str, Vec<String>) {
        match s {
            Suggestion::Close(t) => ("close", t.iter().map(|t| t.tag.clone()).collect()),
            Suggestion::Recent(t) => ("recent", t.iter().map(|t| t.tag.clone()).collect()),
            Suggestion::Empty => ("empty", Vec::new()),
        }
    }

    #[test]
    fn suggestions() {
        let tags = vec![
            tagged("2222222", 300),
            tagged("2222223", 400),
            tagged("1111111", 100),
            tagged("3f2a9c1d8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f", 200),
            tagged("v1.2.3", 50),
            tagged("latest", 400),
            tagged("a", 10),
            tagged("b", 11),
            tagged("c", 12),
        ];
        let v = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        for (wanted, expected) in [
            // One character off: both SHAs that are, newest first.
            (Some("2222224"), ("close", v(&["2222223", "2222222"]))),
            // A short SHA of a long one, and the other way round.
            (Some("3f2a9c1"), ("close", v(&["3f2a9c1d8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f"]))),
            (Some("V1.2.3"), ("close", v(&["v1.2.3"]))),
            (Some("v1.2.4"), ("close", v(&["v1.2.3"]))),
            // Nothing close: the most recent five (ties in name order).
            (
                Some("release-candidate"),
                ("recent", v(&["2222223", "latest", "2222222", "3f2a9c1d8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f", "1111111"])),
            ),
            // A missing digest: the most recent.
            (
                None,
                ("recent", v(&["2222223", "latest", "2222222", "3f2a9c1d8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f", "1111111"])),
            ),
        ] {
            assert_eq!(names(&suggest(wanted, &tags)), expected, "{wanted:?}");
        }
        assert_eq!(suggest(Some("x"), &[]), Suggestion::Empty);
        // At most five close ones.
        let many: Vec<Tagged> = (0..9).map(|i| tagged(&format!("v1.0.{i}"), i)).collect();
        assert_eq!(names(&suggest(Some("v1.0.x"), &many)).1, v(&["v1.0.8", "v1.0.7", "v1.0.6", "v1.0.5", "v1.0.4"]));
    }

    #[test]
    fn the_summary_names_each_digest_and_each_image_not_checked() {
        let lines = describe(&[
            ImageCheck::Found { image: "1.dkr.ecr.r.amazonaws.com/web:2".into(), digest: "sha256:ab".into() },
            ImageCheck::NotEcr { image: "nginx:1.27".into() },
            ImageCheck::Unchecked { image: "1.dkr.ecr.r.amazonaws.com/web:3".into() },
        ]);
        assert_eq!(
            lines,
            [
                "verified in ECR: 1.dkr.ecr.r.amazonaws.com/web:2 is sha256:ab",
                "not verified: nginx:1.27 is not in a private ECR registry",
                "not verified: 1.dkr.ecr.r.amazonaws.com/web:3 (verifyImages is false)"
            ]
        );
    }
}
