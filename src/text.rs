//! Text and ARN helpers shared by every module: clipping hostile input, fitting CodePipeline's field limits,
//! and the short forms of the ARNs people read.

/// CodePipeline's `failureDetails.message` limit.
pub const MAX_FAILURE_MESSAGE: usize = 5000;

/// At most `max` chars of `s`, marked when cut (keeps hostile input out of messages).
pub fn clip(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_owned(),
        Some((cut, _)) => format!("{}…", &s[..cut]),
    }
}

/// At most `max` bytes, cut at a char boundary and marked.
pub fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut cut = max - '…'.len_utf8();
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push('…');
    }
    text
}

/// The region of an ARN (`arn:aws:ecs:eu-west-1:…` → `eu-west-1`), when it names one.
pub fn arn_region(arn: &str) -> Option<&str> {
    arn.split(':').nth(3).filter(|r| !r.is_empty())
}

/// `arn:…:task-definition/web:42` → `web:42`; `arn:…:service-deployment/c/s/abc` → `abc`.
pub fn short_arn(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// `arn:…:task-definition/web:42` → (`web`, `42`).
pub fn family_and_revision(arn: &str) -> (String, String) {
    let name = short_arn(arn);
    match name.rsplit_once(':') {
        Some((family, revision)) => (family.to_owned(), revision.to_owned()),
        None => (name.to_owned(), String::new()),
    }
}

/// `arn:aws:ecs:us-east-1:123456789012:service/c/s` → `arn:aws:ecs:us-east-1:123456789012` (partition,
/// service, region and account: what every ECS ARN of that account and region starts with).
pub fn arn_prefix(arn: &str) -> Option<&str> {
    let mut colons = arn.match_indices(':').map(|(i, _)| i);
    let fifth = colons.nth(4)?;
    arn.starts_with("arn:").then(|| &arn[..fifth])
}

/// The full task definition ARN for `family:revision` in the account and region of `any_arn`.
pub fn task_definition_arn(any_arn: &str, family_revision: &str) -> String {
    if family_revision.starts_with("arn:") {
        return family_revision.to_owned();
    }
    match arn_prefix(any_arn) {
        Some(prefix) => format!("{prefix}:task-definition/{family_revision}"),
        None => family_revision.to_owned(),
    }
}

/// A CodePipeline output variable name: characters outside `[A-Za-z0-9@_-]` become `_`.
pub fn variable_name(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '@' | '_' | '-') { c } else { '_' }).collect()
}

/// "a string", "null"…: what a JSON value is, for messages.
pub fn json_kind(value: &serde_json::Value) -> &'static str {
    use serde_json::Value;
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Levenshtein distance over chars (keys are short; allocation is fine).
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (diagonal + usize::from(ca != *cb)).min(row[j] + 1).min(above + 1);
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_respects_char_boundaries() {
        assert_eq!(truncate("abc".into(), 5), "abc");
        let cut = truncate("é".repeat(10), 8);
        assert!(cut.len() <= 8 && cut.ends_with('…'), "{cut}");
    }

    #[test]
    fn arns() {
        let td = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:42";
        assert_eq!(short_arn(td), "web:42");
        assert_eq!(family_and_revision(td), ("web".into(), "42".into()));
        assert_eq!(family_and_revision("web"), ("web".into(), String::new()));
        let sd = "arn:aws-us-gov:ecs:us-gov-west-1:123456789012:service-deployment/prod/web/AbC123";
        assert_eq!(arn_prefix(sd), Some("arn:aws-us-gov:ecs:us-gov-west-1:123456789012"));
        assert_eq!(arn_prefix("web:42"), None);
        assert_eq!(
            task_definition_arn(sd, "web:42"),
            "arn:aws-us-gov:ecs:us-gov-west-1:123456789012:task-definition/web:42"
        );
        assert_eq!(task_definition_arn(sd, td), td);
        assert_eq!(task_definition_arn("prod", "web:42"), "web:42");
        assert_eq!(clip("abcdef", 3), "abc…");
        assert_eq!(variable_name("ImageDigest_log.router/x"), "ImageDigest_log_router_x");
    }

    #[test]
    fn edit_distances() {
        for (a, b, d) in
            [("", "", 0), ("abc", "abc", 0), ("clustr", "cluster", 1), ("kitten", "sitting", 3), ("", "ab", 2)]
        {
            assert_eq!(edit_distance(a, b), d, "{a} {b}");
        }
    }
}
