//! What a deploy would change in the task definition, as lines a person reads (the dry run's summary). Pure.
//!
//! Both sides are the task definition in ECS's JSON form (DescribeTaskDefinition's `taskDefinition`, read-only
//! members left out): `~` changed, `+` added, `-` removed. Containers are matched by name. Members that carry
//! secrets are named, never shown: environment variables and secrets by name, the options of a log or FireLens
//! configuration and the labels by key, command and entry point arguments by count (`~ app
//! logConfiguration.options.splunk-token (changed)`); other values are clipped.

use serde_json::{Map, Value};

use crate::carry::READ_ONLY;
use crate::taskdef::Edit;
use crate::text::clip;

/// How much of a value a line shows.
const SHOWN: usize = 80;
/// Lists of `{"name": …, …}` whose entries are shown by name only.
const NAMES_ONLY: [&str; 3] = ["environment", "secrets", "secretOptions"];
/// Maps shown by key only.
const KEYS_ONLY: [&str; 3] = ["options", "dockerLabels", "repositoryCredentials"];
/// Lists of arguments shown by count only.
const ARGUMENTS: [&str; 2] = ["command", "entryPoint"];
/// Objects compared member by member, so that their secret-bearing members are named only.
const NESTED: [&str; 2] = ["logConfiguration", "firelensConfiguration"];

/// The task definition a deploy would register from `base` with `plan`: the images replaced by container name,
/// then the overrides.
pub fn apply(base: &Value, plan: &Edit) -> Value {
    let mut after = base.clone();
    if let Some(containers) = after.get_mut("containerDefinitions").and_then(Value::as_array_mut) {
        for container in containers {
            let name = container.get("name").and_then(Value::as_str).unwrap_or_default().to_owned();
            if let Some(change) = plan.changes.iter().find(|c| c.container == name) {
                container["image"] = Value::String(change.to.clone());
            }
        }
    }
    plan.overrides.apply(&mut after);
    after
}

/// What registering `plan` on `base` would change against `before` (the running revision): the task definition
/// diff when both raw answers were kept, else (test doubles keep none) the image changes alone.
pub fn planned(before: Option<&Value>, base: Option<&Value>, plan: &Edit) -> Vec<String> {
    match before.zip(base) {
        Some((before, base)) => task_definitions(before, &apply(base, plan)),
        None => plan
            .changes
            .iter()
            .filter(|c| c.from.as_deref() != Some(c.to.as_str()))
            .map(|c| format!("~ {} image {} → {}", c.container, c.from.as_deref().unwrap_or("(none)"), c.to))
            .collect(),
    }
}

/// The differences between two task definitions, one line each, in a stable order.
pub fn task_definitions(before: &Value, after: &Value) -> Vec<String> {
    let empty = Map::new();
    let before = before.as_object().unwrap_or(&empty);
    let after = after.as_object().unwrap_or(&empty);
    let mut lines = Vec::new();
    let containers = |m: &Map<String, Value>| -> Vec<(String, Map<String, Value>)> {
        m.get("containerDefinitions")
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .filter_map(Value::as_object)
                    .map(|c| (c.get("name").and_then(Value::as_str).unwrap_or("?").to_owned(), c.clone()))
                    .collect()
            })
            .unwrap_or_default()
    };
    let (old, new) = (containers(before), containers(after));
    for (name, container) in &new {
        match old.iter().find(|(n, _)| n == name) {
            Some((_, was)) => members(&format!("{name} "), was, container, &mut lines),
            None => lines.push(format!("+ container {name} ({})", shown(container.get("image")))),
        }
    }
    for (name, _) in old.iter().filter(|(n, _)| !new.iter().any(|(m, _)| m == n)) {
        lines.push(format!("- container {name}"));
    }
    let top = |m: &Map<String, Value>| -> Map<String, Value> {
        m.iter()
            .filter(|(k, _)| k.as_str() != "containerDefinitions" && !READ_ONLY.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    members("", &top(before), &top(after), &mut lines);
    lines
}

/// Member by member: `~ <prefix><key> old → new`, `+ <prefix><key> value`, `- <prefix><key>`; secret-bearing
/// members by name only.
fn members(prefix: &str, before: &Map<String, Value>, after: &Map<String, Value>, lines: &mut Vec<String>) {
    let mut keys: Vec<&String> = before.keys().chain(after.keys()).collect();
    keys.sort();
    keys.dedup();
    for key in keys {
        let (was, now) = (before.get(key).filter(|v| !v.is_null()), after.get(key).filter(|v| !v.is_null()));
        if was == now {
            continue;
        }
        let k = key.as_str();
        if NAMES_ONLY.contains(&k) {
            lines.extend(names_only(prefix, key, was, now));
            continue;
        }
        if KEYS_ONLY.contains(&k) {
            lines.extend(keys_only(&format!("{prefix}{key}."), was, now));
            continue;
        }
        if NESTED.contains(&k) {
            let empty = Map::new();
            let object = |v: Option<&Value>| v.and_then(Value::as_object).cloned().unwrap_or_else(|| empty.clone());
            match (was, now) {
                (None, Some(_)) => lines.push(format!("+ {prefix}{key}")),
                (Some(_), None) => lines.push(format!("- {prefix}{key}")),
                _ => members(&format!("{prefix}{key}."), &object(was), &object(now), lines),
            }
            continue;
        }
        if ARGUMENTS.contains(&k) {
            let count = |v: Option<&Value>| v.and_then(Value::as_array).map(Vec::len).unwrap_or(0);
            lines.push(match (was, now) {
                (Some(_), Some(now)) => format!("~ {prefix}{key} (changed: {} arguments)", count(Some(now))),
                (None, Some(now)) => format!("+ {prefix}{key} ({} arguments)", count(Some(now))),
                _ => format!("- {prefix}{key}"),
            });
            continue;
        }
        lines.push(match (was, now) {
            (Some(was), Some(now)) => format!("~ {prefix}{key} {} → {}", shown(Some(was)), shown(Some(now))),
            (None, Some(now)) => format!("+ {prefix}{key} {}", shown(Some(now))),
            (Some(_), None) => format!("- {prefix}{key}"),
            (None, None) => continue,
        });
    }
}

/// `{"key": value}` maps: which keys were added, removed or changed; never the values.
fn keys_only(prefix: &str, was: Option<&Value>, now: Option<&Value>) -> Vec<String> {
    let empty = Map::new();
    let (old, new) =
        (was.and_then(Value::as_object).unwrap_or(&empty), now.and_then(Value::as_object).unwrap_or(&empty));
    let mut lines = Vec::new();
    for (key, value) in new {
        match old.get(key) {
            None => lines.push(format!("+ {prefix}{key}")),
            Some(v) if v != value => lines.push(format!("~ {prefix}{key} (changed)")),
            Some(_) => {}
        }
    }
    for key in old.keys().filter(|k| !new.contains_key(*k)) {
        lines.push(format!("- {prefix}{key}"));
    }
    lines
}

/// `[{"name": …, "value"|"valueFrom": …}]` lists: which names were added, removed or changed; never the values.
fn names_only(prefix: &str, key: &str, was: Option<&Value>, now: Option<&Value>) -> Vec<String> {
    let entries = |v: Option<&Value>| -> Vec<(String, Value)> {
        v.and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .map(|e| (e.get("name").and_then(Value::as_str).unwrap_or("?").to_owned(), e.clone()))
                    .collect()
            })
            .unwrap_or_default()
    };
    let (old, new) = (entries(was), entries(now));
    let mut lines = Vec::new();
    for (name, value) in &new {
        match old.iter().find(|(n, _)| n == name) {
            None => lines.push(format!("+ {prefix}{key} {name}")),
            Some((_, v)) if v != value => lines.push(format!("~ {prefix}{key} {name} (changed)")),
            Some(_) => {}
        }
    }
    for (name, _) in old.iter().filter(|(n, _)| !new.iter().any(|(m, _)| m == n)) {
        lines.push(format!("- {prefix}{key} {name}"));
    }
    lines
}

fn shown(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => "(none)".into(),
        Some(Value::String(s)) => clip(s, SHOWN),
        Some(other) => clip(&other.to_string(), SHOWN),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::taskdef::Change;

    fn base() -> Value {
        json!({
            "taskDefinitionArn": "arn:aws:ecs:eu-west-1:111111111111:task-definition/web:42",
            "revision": 42,
            "family": "web",
            "cpu": "256",
            "containerDefinitions": [
                {"name": "app", "image": "repo/app:1111", "environment": [{"name": "MODE", "value": "blue"}]},
                {"name": "envoy", "image": "aws/envoy:v1"}
            ]
        })
    }

    #[test]
    fn lines_for_each_kind_of_change() {
        let plan = Edit {
            changes: vec![Change {
                container: "app".into(),
                from: Some("repo/app:1111".into()),
                to: "repo/app:2222".into(),
            }],
            ..Edit::default()
        };
        let after = apply(&base(), &plan);
        assert_eq!(task_definitions(&base(), &after), ["~ app image repo/app:1111 → repo/app:2222"]);

        let mut changed = after.clone();
        changed["cpu"] = json!("512");
        changed["taskRoleArn"] = json!("arn:aws:iam::111111111111:role/web");
        changed["revision"] = json!(43);
        changed["containerDefinitions"][0]["environment"] =
            json!([{"name": "MODE", "value": "green-secret-value"}, {"name": "TOKEN", "value": "s3cr3t"}]);
        changed["containerDefinitions"][1] = json!({"name": "otel", "image": "aws/otel:v2"});
        let lines = task_definitions(&base(), &changed);
        assert_eq!(
            lines,
            [
                "~ app environment MODE (changed)",
                "+ app environment TOKEN",
                "~ app image repo/app:1111 → repo/app:2222",
                "+ container otel (aws/otel:v2)",
                "- container envoy",
                "~ cpu 256 → 512",
                "+ taskRoleArn arn:aws:iam::111111111111:role/web",
            ]
        );
        let text = lines.join("\n");
        assert!(!text.contains("s3cr3t") && !text.contains("green-secret-value") && !text.contains("blue"), "{text}");
        assert!(!text.contains("revision"), "read-only members are not differences: {text}");
    }

    #[test]
    fn nothing_changed_is_no_line() {
        let plan = Edit {
            changes: vec![Change {
                container: "app".into(),
                from: Some("repo/app:1111".into()),
                to: "repo/app:1111".into(),
            }],
            ..Edit::default()
        };
        assert!(task_definitions(&base(), &apply(&base(), &plan)).is_empty());
    }
}

#[cfg(test)]
mod secrets {
    use serde_json::json;

    use super::*;

    /// Every 8-character window of `secret`: none may appear in a line.
    fn leaks(lines: &[String], secret: &str) -> Option<String> {
        let text = lines.join("\n");
        let chars: Vec<char> = secret.chars().collect();
        chars.windows(8).map(|w| w.iter().collect::<String>()).find(|w| text.contains(w.as_str()))
    }

    #[test]
    fn secret_bearing_members_are_named_never_shown() {
        let secret = "s3cr3t-Sp1unk-T0ken-9f8e7d6c5b4a39281706f5e4d3c2b1a0-EXAMPLE";
        let before = json!({"family": "web", "containerDefinitions": [{"name": "app", "image": "repo/app:1",
            "command": ["serve", "--password", "old-password-value-1234"],
            "logConfiguration": {"logDriver": "splunk", "options": {"splunk-token": "old-token-aaaaaaaaaaaa", "splunk-url": "https://splunk.example"},
                                 "secretOptions": [{"name": "splunk-token2", "valueFrom": "arn:aws:ssm:eu-west-1:1:parameter/old"}]},
            "dockerLabels": {"team": "payments"},
            "repositoryCredentials": {"credentialsParameter": "arn:aws:secretsmanager:eu-west-1:1:secret:old"}}]});
        let after = json!({"family": "web", "containerDefinitions": [{"name": "app", "image": "repo/app:2",
            "command": ["serve", "--password", secret],
            "entryPoint": ["/bin/sh", "-c", secret],
            "environment": [{"name": "TOKEN", "value": secret}],
            "secrets": [{"name": "DB", "valueFrom": secret}],
            "logConfiguration": {"logDriver": "splunk", "options": {"splunk-token": secret, "splunk-url": "https://splunk.example", "splunk-index": secret},
                                 "secretOptions": [{"name": "splunk-token2", "valueFrom": secret}]},
            "firelensConfiguration": {"type": "fluentbit", "options": {"config-file-value": secret}},
            "dockerLabels": {"team": secret},
            "repositoryCredentials": {"credentialsParameter": secret}}]});
        let lines = task_definitions(&before, &after);
        assert_eq!(leaks(&lines, secret), None, "{lines:#?}");
        for expected in [
            "~ app image repo/app:1 → repo/app:2",
            "~ app command (changed: 3 arguments)",
            "+ app entryPoint (3 arguments)",
            "+ app environment TOKEN",
            "+ app secrets DB",
            "~ app logConfiguration.options.splunk-token (changed)",
            "+ app logConfiguration.options.splunk-index",
            "~ app logConfiguration.secretOptions splunk-token2 (changed)",
            "+ app firelensConfiguration",
            "~ app dockerLabels.team (changed)",
            "~ app repositoryCredentials.credentialsParameter (changed)",
        ] {
            assert!(lines.iter().any(|l| l == expected), "{expected:?} not in {lines:#?}");
        }
        assert!(!lines.iter().any(|l| l.contains("splunk-url")), "an unchanged option is no difference");
    }
}
