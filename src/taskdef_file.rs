//! `taskDefinitionFile`: the task definition to register, kept in the application's repository and carried in
//! the build's artifact (CodeDeploy's `taskdef.json`, ecspresso's definition files). Pure.
//!
//! Two forms: the RegisterTaskDefinition JSON (`aws ecs register-task-definition --cli-input-json`), or
//! `describe-task-definition` output (`{"taskDefinition": …, "tags": […]}`, read-only members ignored). Every
//! member is checked against ECS's own API model (`src/model/register-task-definition.json`, refreshed from
//! botocore by `scripts/refresh-ecs-model.py`) — not a hand list and not the Rust SDK's structs, which lag
//! behind ECS. A member the model has is never refused, and reaches ECS even when our SDK does not know it (the
//! raw JSON is carried into the request, see [`crate::carry`]).

use std::sync::OnceLock;

use aws_sdk_ecs::types::{Compatibility, ContainerDefinition, Tag, TaskDefinition};
use serde_json::{Map, Value};

use crate::carry::READ_ONLY;
use crate::text::{clip, edit_distance};

const MODEL: &str = include_str!("model/register-task-definition.json");

fn model() -> &'static Value {
    static MODEL_TREE: OnceLock<Value> = OnceLock::new();
    MODEL_TREE.get_or_init(|| {
        let model: Value = serde_json::from_str(MODEL).expect("the committed model is JSON");
        model["shape"].clone()
    })
}

/// The botocore version the model copy was taken from.
pub fn model_version() -> String {
    serde_json::from_str::<Value>(MODEL)
        .ok()
        .and_then(|m| m["botocore"].as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// A task definition read from the artifact: its typed outline (family, containers, size: what planning needs),
/// its tags, and the whole JSON without the tags (carried into the request).
#[derive(Debug, Clone)]
pub struct FileTaskDefinition {
    pub td: TaskDefinition,
    pub tags: Vec<Tag>,
    pub raw: Value,
}

/// What is wrong with the file, by member path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{problem}")]
pub struct FileError {
    pub problem: String,
}

fn problem(text: impl Into<String>) -> FileError {
    FileError { problem: text.into() }
}

/// Parses and checks the file's content.
pub fn parse(content: &[u8]) -> Result<FileTaskDefinition, FileError> {
    let value: Value = serde_json::from_slice(content).map_err(|e| problem(format!("is not valid JSON ({e})")))?;
    let Value::Object(mut top) = value else {
        return Err(problem(
            "must hold a JSON object: the RegisterTaskDefinition input, or describe-task-definition output",
        ));
    };
    // describe-task-definition output: {"taskDefinition": {...}, "tags": [...]}; read-only members dropped.
    if let Some(Value::Object(described)) = top.get("taskDefinition").cloned() {
        if let Some(other) = top.keys().find(|k| !matches!(k.as_str(), "taskDefinition" | "tags")) {
            return Err(problem(format!(
                "looks like describe-task-definition output but also has \"{}\"; it holds only \"taskDefinition\" and \"tags\"",
                clip(other, 64)
            )));
        }
        let tags = top.remove("tags");
        top = described.into_iter().filter(|(k, _)| !READ_ONLY.contains(&k.as_str())).collect();
        if let Some(tags) = tags {
            top.insert("tags".into(), tags);
        }
    }
    let mut root = Value::Object(top);
    check(&root, model(), "")?;
    let tags = root.as_object_mut().and_then(|o| o.remove("tags"));
    let outline = outline(&root)?;
    let tags = tags
        .and_then(|t| t.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .map(|t| Tag::builder().set_key(str_of(t, "key")).set_value(str_of(t, "value")).build())
        .collect();
    Ok(FileTaskDefinition { td: outline, tags, raw: root })
}

/// An image left as a placeholder (`<IMAGE1_NAME>`, CodeDeploy's style) once the image file's images are in.
pub fn is_placeholder(image: &str) -> bool {
    let t = image.trim();
    t.is_empty() || (t.starts_with('<') && t.ends_with('>'))
}

fn str_of(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// Checks `value` against the model `shape` at `path`.
fn check(value: &Value, shape: &Value, path: &str) -> Result<(), FileError> {
    let at = |p: &str| if p.is_empty() { "the top level".to_owned() } else { format!("\"{p}\"") };
    if let Some(members) = shape.get("members").and_then(Value::as_object) {
        let Value::Object(object) = value else {
            return Err(problem(format!("{} must be an object", at(path))));
        };
        for (key, v) in object {
            let here = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
            match members.get(key) {
                Some(member) if !v.is_null() => check(v, member, &here)?,
                Some(_) => {}
                None => return Err(unknown(&here, key, members)),
            }
        }
        return Ok(());
    }
    if let Some(item) = shape.get("list") {
        let Value::Array(items) = value else {
            return Err(problem(format!("{} must be a list", at(path))));
        };
        for (i, v) in items.iter().enumerate() {
            check(v, item, &format!("{path}[{i}]"))?;
        }
        return Ok(());
    }
    if let Some(item) = shape.get("map") {
        let Value::Object(object) = value else {
            return Err(problem(format!("{} must be an object", at(path))));
        };
        for (key, v) in object {
            check(v, item, &format!("{path}.{key}"))?;
        }
        return Ok(());
    }
    let ok = match shape.get("type").and_then(Value::as_str).unwrap_or("string") {
        "string" => value.is_string(),
        "integer" | "long" => value.is_i64() || value.is_u64(),
        "double" | "float" => value.is_number(),
        "boolean" => value.is_boolean(),
        _ => true,
    };
    if !ok {
        let kind = shape.get("type").and_then(Value::as_str).unwrap_or("string");
        return Err(problem(format!("{} must be a {kind}", at(path))));
    }
    Ok(())
}

fn unknown(path: &str, key: &str, members: &Map<String, Value>) -> FileError {
    let lower = key.to_ascii_lowercase();
    let nearest = members
        .keys()
        .map(|m| (edit_distance(&lower, &m.to_ascii_lowercase()), m))
        .filter(|(d, m)| *d <= 3.min(m.len() / 2).max(1))
        .min()
        .map(|(_, m)| format!("; did you mean \"{m}\"?"))
        .unwrap_or_default();
    problem(format!(
        "has an unknown member \"{}\"{nearest} (checked against ECS's API model, botocore {})",
        clip(path, 200),
        model_version()
    ))
}

/// The typed outline: family, containers (name and image), compatibilities, cpu and memory.
fn outline(root: &Value) -> Result<TaskDefinition, FileError> {
    let family = root
        .get("family")
        .and_then(Value::as_str)
        .filter(|f| !f.is_empty())
        .ok_or_else(|| problem("has no \"family\" (RegisterTaskDefinition requires one)"))?;
    let containers = root
        .get("containerDefinitions")
        .and_then(Value::as_array)
        .filter(|c| !c.is_empty())
        .ok_or_else(|| problem("has no \"containerDefinitions\" (RegisterTaskDefinition requires at least one)"))?;
    let mut td = TaskDefinition::builder().family(family);
    for (i, c) in containers.iter().enumerate() {
        let name = c
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| problem(format!("\"containerDefinitions[{i}]\" has no \"name\"")))?;
        td = td.container_definitions(ContainerDefinition::builder().name(name).set_image(str_of(c, "image")).build());
    }
    for c in root.get("requiresCompatibilities").and_then(Value::as_array).into_iter().flatten() {
        if let Some(c) = c.as_str() {
            td = td.requires_compatibilities(Compatibility::from(c));
        }
    }
    Ok(td.set_cpu(str_of(root, "cpu")).set_memory(str_of(root, "memory")).build())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn taskdef() -> Value {
        json!({
            "family": "web",
            "requiresCompatibilities": ["FARGATE"],
            "networkMode": "awsvpc",
            "cpu": "256",
            "memory": "512",
            "executionRoleArn": "arn:aws:iam::111111111111:role/web-exec",
            "trustedExecutionConfiguration": {"isolationMode": "ISOLATED_SANDBOX"},
            "containerDefinitions": [
                {"name": "web", "image": "<IMAGE1_NAME>", "essential": true,
                 "portMappings": [{"containerPort": 8080}], "dockerLabels": {"any.key": "v"},
                 "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "/ecs/web"}}}
            ],
            "tags": [{"key": "team", "value": "payments"}]
        })
    }

    #[test]
    fn both_forms_are_read() {
        let file = parse(&serde_json::to_vec(&taskdef()).unwrap()).unwrap();
        assert_eq!(file.td.family(), Some("web"));
        assert_eq!(file.td.container_definitions()[0].image(), Some("<IMAGE1_NAME>"));
        assert_eq!(file.tags.len(), 1);
        assert!(file.raw.get("tags").is_none(), "tags go with the job tag, not in the carried JSON");
        assert_eq!(
            file.raw["trustedExecutionConfiguration"]["isolationMode"], "ISOLATED_SANDBOX",
            "kept though our SDK lacks it"
        );

        let mut described = taskdef();
        let tags = described.as_object_mut().unwrap().remove("tags").unwrap();
        described["taskDefinitionArn"] = json!("arn:aws:ecs:eu-west-1:111111111111:task-definition/web:7");
        described["revision"] = json!(7);
        described["status"] = json!("ACTIVE");
        described["registeredAt"] = json!(1_700_000_000.5);
        described["requiresAttributes"] = json!([{"name": "com.amazonaws.ecs.capability.docker-remote-api.1.18"}]);
        let file = parse(&serde_json::to_vec(&json!({"taskDefinition": described, "tags": tags})).unwrap()).unwrap();
        assert!(file.raw.get("revision").is_none() && file.raw.get("status").is_none());
        assert_eq!(file.tags.len(), 1);
    }

    #[test]
    fn every_member_of_the_model_is_accepted() {
        // A task definition that uses every top-level member the model has is never refused.
        let members = model()["members"].as_object().unwrap();
        for name in members.keys() {
            let mut td = taskdef();
            if td.get(name).is_none() {
                td[name] = match &members[name] {
                    shape if shape.get("list").is_some() => json!([]),
                    shape if shape.get("members").is_some() => json!({}),
                    shape if shape.get("type") == Some(&json!("boolean")) => json!(true),
                    _ => json!("x"),
                };
            }
            parse(&serde_json::to_vec(&td).unwrap()).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        // And the real task definitions of the repository's fixtures.
        // And real task definitions: botocore's own examples of both forms, and a full Fargate one.
        for fixture in ["taskdef-describe.json", "taskdef-register.json", "taskdef-fargate.json"] {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(fixture);
            let content = std::fs::read(&path).unwrap_or_else(|e| panic!("{fixture}: {e}"));
            parse(&content).unwrap_or_else(|e| panic!("{fixture}: {e}"));
        }
    }

    #[test]
    fn refusals_name_the_path_and_the_nearest_member() {
        for (change, expected) in [
            (json!({"memroy": "512"}), "unknown member \"memroy\"; did you mean \"memory\"?"),
            (
                json!({"containerDefinitions": [{"name": "web", "image": "i", "portMapings": []}]}),
                "unknown member \"containerDefinitions[0].portMapings\"; did you mean \"portMappings\"?",
            ),
            (
                json!({"containerDefinitions": [{"name": "web", "image": "i", "essential": "yes"}]}),
                "\"containerDefinitions[0].essential\" must be a boolean",
            ),
            (json!({"containerDefinitions": []}), "has no \"containerDefinitions\""),
            (json!({"family": ""}), "has no \"family\""),
            (json!({"volumes": {}}), "\"volumes\" must be a list"),
        ] {
            let mut td = taskdef();
            for (k, v) in change.as_object().unwrap() {
                td[k] = v.clone();
            }
            let message = parse(&serde_json::to_vec(&td).unwrap()).unwrap_err().to_string();
            assert!(message.contains(expected), "{change}: {message}");
        }
        assert!(parse(b"[]").unwrap_err().to_string().contains("must hold a JSON object"));
        assert!(
            parse(br#"{"taskDefinition":{"family":"a"},"extra":1}"#)
                .unwrap_err()
                .to_string()
                .contains("also has \"extra\"")
        );
        assert!(is_placeholder("<IMAGE1_NAME>") && is_placeholder(" ") && !is_placeholder("repo/web:1"));
    }
}
