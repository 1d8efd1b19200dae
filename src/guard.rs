//! Who may deploy what: permission to invoke this function is permission to deploy, so the function itself
//! refuses images outside `ALLOWED_IMAGES`, task definition families outside `ALLOWED_FAMILIES` and artifacts
//! outside `ALLOWED_ARTIFACT_BUCKETS` before anything changes, whoever invoked it with whatever event. Every way
//! onto a service (a release, a promotion, a rollback to a named or the previous revision, the rollbacks of
//! `atomic` and of a timeout) passes [`Guard::check_revision`].

use std::env;

/// One `ALLOWED_IMAGES` entry: a registry host, optionally with a repository prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ImageRule {
    host: String,
    /// Repository path prefix without a trailing `/` (empty: any repository of the host).
    prefix: String,
}

/// The allow-lists in force (`None`: not set, nothing is refused).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Guard {
    images: Option<Vec<ImageRule>>,
    buckets: Option<Vec<String>>,
    /// Task definition families; an entry ending in `*` is a prefix.
    families: Option<Vec<String>>,
    /// IAM roles the function may assume for a target (`roleArn`); an entry ending in `*` is a prefix.
    roles: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error(
        "image {image} is outside ALLOWED_IMAGES ({allowed}); this function deploys only images from those registries \
         and repositories"
    )]
    Image { image: String, allowed: String },
    #[error(
        "the input artifact is in S3 bucket {bucket}, outside ALLOWED_ARTIFACT_BUCKETS ({allowed}); this function \
         reads releases only from those buckets"
    )]
    Bucket { bucket: String, allowed: String },
    #[error(
        "task definition family {family} is outside ALLOWED_FAMILIES ({allowed}); this function puts only revisions \
         of those families on a service, and cleans up only those"
    )]
    Family { family: String, allowed: String },
    #[error(
        "role {role} is outside ALLOWED_ROLE_ARNS ({allowed}); this function assumes only those roles to reach \
         another account"
    )]
    Role { role: String, allowed: String },
}

/// A comma-separated allow-list's entries; `None` when unset or empty (not enforced).
fn entries(list: Option<&str>) -> Option<Vec<String>> {
    let items: Vec<String> = list?.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect();
    (!items.is_empty()).then_some(items)
}

/// Whether `value` is one of `entries`, exactly or below a `prefix*` entry.
fn matches_any(entries: &[String], value: &str) -> bool {
    entries.iter().any(|e| match e.strip_suffix('*') {
        Some(prefix) => value.starts_with(prefix),
        None => value == e,
    })
}

impl Guard {
    /// `ALLOWED_IMAGES`, `ALLOWED_ARTIFACT_BUCKETS` and `ALLOWED_FAMILIES`, comma-separated; unset or empty: not
    /// enforced.
    pub fn from_env() -> Self {
        let var = |name: &str| env::var(name).ok();
        Self::parse(var("ALLOWED_IMAGES").as_deref(), var("ALLOWED_ARTIFACT_BUCKETS").as_deref())
            .with_families(var("ALLOWED_FAMILIES").as_deref())
            .with_roles(var("ALLOWED_ROLE_ARNS").as_deref())
    }

    /// With `ALLOWED_ROLE_ARNS` (comma-separated; `*` at the end: a prefix).
    pub fn with_roles(mut self, roles: Option<&str>) -> Self {
        self.roles = entries(roles);
        self
    }

    /// A role a target names must be in `ALLOWED_ROLE_ARNS` (exactly, or below a `prefix*` entry).
    pub fn check_role(&self, role: &str) -> Result<(), Refusal> {
        match &self.roles {
            Some(roles) if !matches_any(roles, role) => {
                Err(Refusal::Role { role: crate::text::clip(role, 300), allowed: roles.join(", ") })
            }
            _ => Ok(()),
        }
    }

    /// With `ALLOWED_FAMILIES` (comma-separated; `*` at the end: a prefix).
    pub fn with_families(mut self, families: Option<&str>) -> Self {
        self.families = entries(families);
        self
    }

    pub fn parse(images: Option<&str>, buckets: Option<&str>) -> Self {
        let images = entries(images).map(|items| {
            items
                .into_iter()
                .map(|item| {
                    let item = item.trim_start_matches("https://");
                    let (host, prefix) = item.split_once('/').unwrap_or((item, ""));
                    ImageRule { host: host.to_ascii_lowercase(), prefix: prefix.trim_end_matches('/').to_owned() }
                })
                .collect()
        });
        Self { images, buckets: entries(buckets), families: None, roles: None }
    }

    /// Whether either list is enforced (for the start-up log line).
    pub fn describe(&self) -> String {
        let show = |on: bool| if on { "enforced" } else { "not set: anything is accepted" };
        format!(
            "ALLOWED_IMAGES {}, ALLOWED_ARTIFACT_BUCKETS {}, ALLOWED_FAMILIES {}, ALLOWED_ROLE_ARNS {}",
            show(self.images.is_some()),
            show(self.buckets.is_some()),
            show(self.families.is_some()),
            show(self.roles.is_some())
        )
    }

    /// An image the deploy sets must come from an allowed registry host (exactly) and repository prefix.
    pub fn check_image(&self, image: &str) -> Result<(), Refusal> {
        let Some(rules) = &self.images else { return Ok(()) };
        let (host, repository) = split_image(image);
        let allowed = rules.iter().any(|rule| {
            host.as_deref().is_some_and(|h| h.eq_ignore_ascii_case(&rule.host))
                && (rule.prefix.is_empty()
                    || repository == rule.prefix
                    || repository.strip_prefix(rule.prefix.as_str()).is_some_and(|rest| rest.starts_with('/')))
        });
        if allowed {
            return Ok(());
        }
        let list: Vec<String> = rules
            .iter()
            .map(|r| if r.prefix.is_empty() { r.host.clone() } else { format!("{}/{}/", r.host, r.prefix) })
            .collect();
        Err(Refusal::Image { image: crate::text::clip(image, 300), allowed: list.join(", ") })
    }

    /// A revision's family must be in `ALLOWED_FAMILIES` (exactly, or below a `prefix*` entry).
    pub fn check_family(&self, family: &str) -> Result<(), Refusal> {
        match &self.families {
            Some(families) if !matches_any(families, family) => {
                Err(Refusal::Family { family: crate::text::clip(family, 255), allowed: families.join(", ") })
            }
            _ => Ok(()),
        }
    }

    /// Whether a revision's images or family are checked (a revision is described only then).
    pub fn checks_revisions(&self) -> bool {
        self.images.is_some() || self.families.is_some()
    }

    /// Every way onto a service: the revision's family, and every image it runs.
    pub fn check_revision(&self, td: &aws_sdk_ecs::types::TaskDefinition) -> Result<(), Refusal> {
        self.check_family(td.family().unwrap_or_default())?;
        td.container_definitions().iter().filter_map(|c| c.image()).try_for_each(|image| self.check_image(image))
    }

    pub fn check_bucket(&self, bucket: &str) -> Result<(), Refusal> {
        match &self.buckets {
            Some(buckets) if !buckets.iter().any(|b| b == bucket) => {
                Err(Refusal::Bucket { bucket: crate::text::clip(bucket, 100), allowed: buckets.join(", ") })
            }
            _ => Ok(()),
        }
    }
}

/// `host/path/name:tag` → (Some(host), `path/name`); an image without a registry host (Docker Hub's
/// `nginx:1.25`) has none. The host is the first component when it has a `.` or a `:` or is `localhost`,
/// as Docker reads references.
fn split_image(image: &str) -> (Option<String>, String) {
    let without_digest = image.split('@').next().unwrap_or(image);
    let (first, rest) = match without_digest.split_once('/') {
        Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => (Some(first), rest),
        _ => (None, without_digest),
    };
    // The tag follows the last `:` after the last `/`.
    let repository = match rest.rfind(':') {
        Some(i) if !rest[i..].contains('/') => &rest[..i],
        _ => rest,
    };
    (first.map(|h| h.split(':').next().unwrap_or(h).to_ascii_lowercase()), repository.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ECR: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";

    #[test]
    fn images_match_on_the_exact_host_and_a_repository_prefix() {
        let guard = Guard::parse(Some(&format!("{ECR}, {ECR}/team-a/ ,public.ecr.aws/aws-observability")), None);
        let cases = [
            (format!("{ECR}/web:3f2a9c1"), true),
            (format!("{ECR}/web@sha256:{}", "ab".repeat(32)), true),
            (format!("{}/web:1", ECR.to_uppercase()), true),
            (format!("{ECR}.attacker.example/web:1"), false),
            (format!("{ECR}evil.example/web:1"), false),
            (format!("evil.example/{ECR}/web:1"), false),
            ("public.ecr.aws/aws-observability/aws-for-fluent-bit:stable".to_owned(), true),
            ("public.ecr.aws/aws-observability-fake/x:1".to_owned(), false),
            ("public.ecr.aws/other/x:1".to_owned(), false),
            ("nginx:1.25".to_owned(), false),
            ("docker.io/library/nginx:1.25".to_owned(), false),
            (format!("{ECR}:443/web:1"), true),
        ];
        for (image, expected) in cases {
            assert_eq!(guard.check_image(&image).is_ok(), expected, "{image}");
        }
        let team = Guard::parse(Some(&format!("{ECR}/team-a/")), None);
        assert!(team.check_image(&format!("{ECR}/team-a/web:1")).is_ok());
        assert!(team.check_image(&format!("{ECR}/team-a:1")).is_ok());
        assert!(team.check_image(&format!("{ECR}/team-ab/web:1")).is_err());
        assert!(team.check_image(&format!("{ECR}/web:1")).is_err());
        let message = team.check_image("evil.example/x:1").unwrap_err().to_string();
        assert!(message.contains(&format!("outside ALLOWED_IMAGES ({ECR}/team-a/)")), "{message}");
    }

    #[test]
    fn unset_or_empty_lists_are_not_enforced() {
        for value in [None, Some(""), Some(" , ")] {
            let guard = Guard::parse(value, value);
            assert!(guard.check_image("anything:1").is_ok() && guard.check_bucket("any").is_ok());
        }
    }

    #[test]
    fn families_match_exactly_or_by_a_prefix() {
        let guard = Guard::default().with_families(Some("web, batch-*"));
        for (family, expected) in
            [("web", true), ("web2", false), ("batch-nightly", true), ("batch", false), ("other", false)]
        {
            assert_eq!(guard.check_family(family).is_ok(), expected, "{family}");
        }
        let message = guard.check_family("other").unwrap_err().to_string();
        assert!(message.contains("family other is outside ALLOWED_FAMILIES (web, batch-*)"), "{message}");
        assert!(Guard::default().with_families(Some(" ")).check_family("anything").is_ok());
    }

    #[test]
    fn buckets_match_exactly() {
        let guard = Guard::parse(None, Some("artifacts-prod,artifacts-staging"));
        assert!(guard.check_bucket("artifacts-prod").is_ok());
        assert!(guard.check_bucket("artifacts-prod-evil").is_err());
        assert!(guard.check_bucket("artifacts").is_err());
    }
}
