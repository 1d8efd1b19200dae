//! The image file inside the artifact: `imagedefinitions.json` or `imageDetail.json` → which container gets
//! which image. Pure parsing and validation; the format is told by the JSON's shape, not the file's name.

use std::collections::HashSet;
use std::fmt;

use serde_json::Value;

use crate::text::json_kind as kind;

/// CodePipeline's limit for image definition files.
pub const MAX_FILE_BYTES: usize = 100 * 1024;
/// ECS accepts image references of up to 255 characters.
const MAX_IMAGE_LEN: usize = 255;

/// One container's new image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageUpdate {
    pub container: String,
    pub image: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageFileError {
    #[error("is {0} bytes; CodePipeline image files are limited to {MAX_FILE_BYTES} bytes")]
    TooLarge(usize),
    #[error("is empty")]
    Empty,
    #[error("starts with a UTF-8 byte order mark, which JSON forbids (RFC 8259 §8.1); write it without one")]
    ByteOrderMark,
    #[error("is not valid JSON: {0}")]
    NotJson(String),
    #[error(
        "must be an imagedefinitions.json array such as [{{\"name\": \"web\", \"imageUri\": \"repo:tag\"}}] \
         or an imageDetail.json object such as {{\"ImageURI\": \"repo@sha256:…\"}}, not {0}"
    )]
    WrongShape(&'static str),
    #[error("is an empty array; list at least one {{\"name\", \"imageUri\"}} entry")]
    NoEntries,
    #[error("entry {index}: {problem}")]
    Entry { index: usize, problem: String },
    #[error("names container \"{0}\" more than once")]
    DuplicateName(String),
    #[error("\"ImageURI\" {0}")]
    Detail(String),
    /// An imageDetail.json names no container; this is a configuration problem, not a file problem.
    #[error("is an imageDetail.json, which names no container; set \"containerName\" in UserParameters")]
    NeedsContainerName,
    #[error(
        "is an imagedefinitions.json, which names its containers itself; remove \"containerName\" from UserParameters"
    )]
    UnexpectedContainerName,
}

/// Parses the file's bytes into image updates, validating every entry.
pub fn parse(bytes: &[u8], container_name: Option<&str>) -> Result<Vec<ImageUpdate>, ImageFileError> {
    if bytes.len() > MAX_FILE_BYTES {
        return Err(ImageFileError::TooLarge(bytes.len()));
    }
    if bytes.starts_with(b"\xEF\xBB\xBF") {
        return Err(ImageFileError::ByteOrderMark);
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ImageFileError::Empty);
    }
    let value: Value = serde_json::from_slice(bytes).map_err(|e| ImageFileError::NotJson(e.to_string()))?;
    match value {
        Value::Array(entries) => {
            if container_name.is_some() {
                return Err(ImageFileError::UnexpectedContainerName);
            }
            definitions(entries)
        }
        Value::Object(detail) => {
            let image = match detail.get("ImageURI") {
                Some(Value::String(uri)) => check_image(uri).map_err(ImageFileError::Detail)?,
                Some(other) => {
                    return Err(ImageFileError::Detail(format!("must be a string, not {}", kind(other))));
                }
                None => return Err(ImageFileError::Detail("is missing".into())),
            };
            let container = container_name.ok_or(ImageFileError::NeedsContainerName)?.to_owned();
            Ok(vec![ImageUpdate { container, image }])
        }
        other => Err(ImageFileError::WrongShape(kind(&other))),
    }
}

fn definitions(entries: Vec<Value>) -> Result<Vec<ImageUpdate>, ImageFileError> {
    if entries.is_empty() {
        return Err(ImageFileError::NoEntries);
    }
    let mut seen = HashSet::new();
    let mut updates = Vec::with_capacity(entries.len());
    for (index, entry) in entries.iter().enumerate() {
        let problem = |problem: String| ImageFileError::Entry { index, problem };
        let Value::Object(fields) = entry else {
            return Err(problem(format!("must be an object with \"name\" and \"imageUri\", not {}", kind(entry))));
        };
        let field = |key: &str| match fields.get(key) {
            Some(Value::String(s)) if !s.is_empty() => Ok(s.as_str()),
            Some(Value::String(_)) => Err(problem(format!("\"{key}\" is empty"))),
            Some(other) => Err(problem(format!("\"{key}\" must be a string, not {}", kind(other)))),
            None => Err(problem(format!("\"{key}\" is missing{}", near_miss(fields, key)))),
        };
        let container = field("name")?;
        if container.len() > 255 || container.chars().any(char::is_control) {
            return Err(problem(format!("\"name\" {:?} is not a container name", clip(container))));
        }
        let image = check_image(field("imageUri")?).map_err(|p| problem(format!("\"imageUri\" {p}")))?;
        if !seen.insert(container) {
            return Err(ImageFileError::DuplicateName(container.to_owned()));
        }
        updates.push(ImageUpdate { container: container.to_owned(), image });
    }
    Ok(updates)
}

/// `imageURI`, `ImageUri`… when the wanted key is missing: a hint at the key that is probably meant.
fn near_miss(fields: &serde_json::Map<String, Value>, key: &str) -> String {
    fields
        .keys()
        .find(|k| k.eq_ignore_ascii_case(key))
        .map(|k| format!(" (keys are case-sensitive: found \"{}\")", clip(k)))
        .unwrap_or_default()
}

/// Checks an image reference against what ECS accepts and returns it unchanged.
fn check_image(uri: &str) -> Result<String, String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "-_:./@#".contains(c);
    if uri.is_empty() {
        Err("is empty".into())
    } else if uri.len() > MAX_IMAGE_LEN {
        Err(format!("is {} characters; ECS allows {MAX_IMAGE_LEN}", uri.len()))
    } else if let Some(bad) = uri.chars().find(|c| !allowed(*c)) {
        Err(format!("{:?} has the character {bad:?}, which is not valid in an image reference", clip(uri)))
    } else {
        Ok(uri.to_owned())
    }
}

/// How an image reference pins what runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pin<'a> {
    Digest,
    Tag(&'a str),
    /// No tag at all: Docker reads it as `latest`.
    Untagged,
}

/// Splits off what pins an image reference: `repo@sha256:…`, `repo:tag`, or nothing.
pub fn pin(image: &str) -> Pin<'_> {
    if image.contains('@') {
        return Pin::Digest;
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.rsplit_once(':') {
        Some((_, tag)) if !tag.is_empty() => Pin::Tag(tag),
        _ => Pin::Untagged,
    }
}

/// An image in a private ECR registry, as `verifyImages` looks it up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcrImage<'a> {
    /// The registry's account (DescribeImages' `registryId`).
    pub account: &'a str,
    pub region: &'a str,
    /// `aws`, `aws-cn`, …: for the repository's ARN.
    pub partition: &'static str,
    pub fips: bool,
    pub repository: &'a str,
    pub id: EcrId<'a>,
}

/// What names the image inside its repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EcrId<'a> {
    Tag(&'a str),
    Digest(&'a str),
}

impl EcrImage<'_> {
    pub fn repository_arn(&self) -> String {
        format!("arn:{}:ecr:{}:{}:repository/{}", self.partition, self.region, self.account, self.repository)
    }
}

/// The ECR parts of an image reference, when it names a private ECR registry
/// (`<account>.dkr.ecr[-fips].<region>.amazonaws.com[.cn]/<repository>[:tag][@digest]`, or the dual-stack
/// `<account>.dkr-ecr[-fips].<region>.on.aws/…`; ECR User Guide, "Private registry concepts" and "Amazon ECR
/// endpoints"). `None` for every other registry (Docker Hub, ECR Public, GHCR…). No tag means `latest`, as
/// Docker reads it; a digest wins over a tag, as ECS resolves it.
pub fn ecr(image: &str) -> Option<EcrImage<'_>> {
    let (host, path) = image.split_once('/')?;
    let mut labels = host.split('.');
    let account = labels.next()?;
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let service = labels.next()?;
    let (dual_stack, fips) = match service {
        "dkr" => match labels.next()? {
            "ecr" => (false, false),
            "ecr-fips" => (false, true),
            _ => return None,
        },
        "dkr-ecr" => (true, false),
        "dkr-ecr-fips" => (true, true),
        _ => return None,
    };
    let region = labels.next()?;
    let suffix: Vec<&str> = labels.collect();
    let partition = match (dual_stack, suffix.as_slice()) {
        (false, ["amazonaws", "com"]) | (true, ["on", "aws"]) => "aws",
        (false, ["amazonaws", "com", "cn"]) | (true, ["on", "amazonwebservices", "com", "cn"]) => "aws-cn",
        _ => return None,
    };
    if region.is_empty() || !region.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
        return None;
    }
    let (name, id) = match path.split_once('@') {
        Some((name, digest)) => {
            let name = name.rsplit_once(':').filter(|(_, tag)| !tag.contains('/')).map_or(name, |(n, _)| n);
            (name, EcrId::Digest(digest))
        }
        None => match path.rsplit_once(':') {
            Some((name, tag)) if !tag.contains('/') && !tag.is_empty() => (name, EcrId::Tag(tag)),
            _ => (path, EcrId::Tag("latest")),
        },
    };
    if name.is_empty() {
        return None;
    }
    Some(EcrImage { account, region, partition, fips, repository: name, id })
}

fn clip(s: &str) -> String {
    crate::text::clip(s, 80)
}

impl fmt::Display for ImageUpdate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} → {}", self.container, self.image)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(container: &str, image: &str) -> ImageUpdate {
        ImageUpdate { container: container.into(), image: image.into() }
    }

    #[test]
    fn image_definitions() {
        let file = br#"[{"name":"web","imageUri":"111111111111.dkr.ecr.eu-west-1.amazonaws.com/web:3f2a9c1"},
                        {"name":"sidecar","imageUri":"public.ecr.aws/envoy:v1.31@sha256:abc","extra":1}]"#;
        assert_eq!(
            parse(file, None).unwrap(),
            vec![
                update("web", "111111111111.dkr.ecr.eu-west-1.amazonaws.com/web:3f2a9c1"),
                update("sidecar", "public.ecr.aws/envoy:v1.31@sha256:abc")
            ]
        );
    }

    #[test]
    fn image_detail() {
        let file = br#"{"ImageSizeInBytes":"50","ImageDigest":"sha256:abc","Version":"1.0","ImageURI":"111111111111.dkr.ecr.eu-west-1.amazonaws.com/web@sha256:abc","RepositoryName":"web"}"#;
        assert_eq!(
            parse(file, Some("app")).unwrap(),
            vec![update("app", "111111111111.dkr.ecr.eu-west-1.amazonaws.com/web@sha256:abc")]
        );
        assert_eq!(parse(file, None), Err(ImageFileError::NeedsContainerName));
    }

    #[test]
    fn rejections() {
        let big = format!(r#"[{{"name":"web","imageUri":"r:t"}}]{}"#, " ".repeat(MAX_FILE_BYTES));
        let cases: Vec<(&[u8], &str)> = vec![
            (b"", "is empty"),
            (b" \n", "is empty"),
            (b"\xEF\xBB\xBF[]", "byte order mark"),
            (b"[", "not valid JSON"),
            (br#"[{"name":"web","imageUri":"r:t"}] trailing"#, "trailing characters"),
            (b"\"web\"", "not a string"),
            (b"null", "not null"),
            (b"[]", "empty array"),
            (b"[null]", "entry 0: must be an object"),
            (br#"[{"name":"web"}]"#, "entry 0: \"imageUri\" is missing"),
            (br#"[{"name":"web","imageURI":"r:t"}]"#, "case-sensitive: found \"imageURI\""),
            (br#"[{"name":null,"imageUri":"r:t"}]"#, "\"name\" must be a string, not null"),
            (br#"[{"name":"","imageUri":"r:t"}]"#, "\"name\" is empty"),
            (br#"[{"name":"web","imageUri":""}]"#, "\"imageUri\" is empty"),
            (
                br#"[{"name":"web","imageUri":"r:t"},{"name":"db","imageUri":7}]"#,
                "entry 1: \"imageUri\" must be a string, not a number",
            ),
            (
                br#"[{"name":"web","imageUri":"r:t"},{"name":"web","imageUri":"r:u"}]"#,
                "names container \"web\" more than once",
            ),
            (br#"[{"name":"web","imageUri":"repo:tag with space"}]"#, "has the character ' '"),
            (br#"{"ImageURI":null}"#, "\"ImageURI\" must be a string, not null"),
            (br#"{"imageUri":"r:t"}"#, "\"ImageURI\" is missing"),
            (big.as_bytes(), "limited to 102400 bytes"),
        ];
        for (file, expected) in cases {
            let message = parse(file, None).expect_err(expected).to_string();
            assert!(
                message.contains(expected),
                "{:?}: {message}",
                String::from_utf8_lossy(&file[..file.len().min(60)])
            );
        }
        assert_eq!(
            parse(br#"[{"name":"web","imageUri":"r:t"}]"#, Some("web")),
            Err(ImageFileError::UnexpectedContainerName)
        );
    }

    #[test]
    fn ecr_references() {
        let tag = |account, region, partition, fips, repository, tag| {
            Some(EcrImage { account, region, partition, fips, repository, id: EcrId::Tag(tag) })
        };
        let digest = |account, region, repository, digest| {
            Some(EcrImage { account, region, partition: "aws", fips: false, repository, id: EcrId::Digest(digest) })
        };
        for (image, expected) in [
            (
                "123456789012.dkr.ecr.us-east-1.amazonaws.com/web:2222222",
                tag("123456789012", "us-east-1", "aws", false, "web", "2222222"),
            ),
            (
                "123456789012.dkr.ecr.us-east-1.amazonaws.com/team-a/web",
                tag("123456789012", "us-east-1", "aws", false, "team-a/web", "latest"),
            ),
            (
                "111111111111.dkr.ecr.eu-west-1.amazonaws.com/web@sha256:abc",
                digest("111111111111", "eu-west-1", "web", "sha256:abc"),
            ),
            (
                "111111111111.dkr.ecr.eu-west-1.amazonaws.com/web:v1@sha256:abc",
                digest("111111111111", "eu-west-1", "web", "sha256:abc"),
            ),
            (
                "123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com/web:1",
                tag("123456789012", "us-gov-west-1", "aws", true, "web", "1"),
            ),
            (
                "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/web:1",
                tag("123456789012", "cn-north-1", "aws-cn", false, "web", "1"),
            ),
            ("123456789012.dkr-ecr.eu-west-1.on.aws/web:1", tag("123456789012", "eu-west-1", "aws", false, "web", "1")),
            ("public.ecr.aws/nginx/nginx:1.27", None),
            ("nginx:1.27", None),
            ("ghcr.io/org/app:1", None),
            ("localhost:5000/web:1", None),
            ("12345678901.dkr.ecr.us-east-1.amazonaws.com/web:1", None),
            ("123456789012.dkr.ecr.us-east-1.example.com/web:1", None),
            ("123456789012.dkr.ecr.us-east-1.amazonaws.com/", None),
        ] {
            assert_eq!(ecr(image), expected, "{image}");
        }
        assert_eq!(
            ecr("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/team/web:1").unwrap().repository_arn(),
            "arn:aws-cn:ecr:cn-north-1:123456789012:repository/team/web"
        );
    }

    #[test]
    fn pins() {
        for (image, expected) in [
            ("repo", Pin::Untagged),
            ("repo:latest", Pin::Tag("latest")),
            ("localhost:5000/repo", Pin::Untagged),
            ("localhost:5000/repo:3f2a9c1", Pin::Tag("3f2a9c1")),
            ("repo@sha256:abc", Pin::Digest),
            ("repo:v1@sha256:abc", Pin::Digest),
        ] {
            assert_eq!(pin(image), expected, "{image}");
        }
    }
}
