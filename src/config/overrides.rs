//! Changes beyond the image (`containers`, `cpu`, `memory`, `taskRoleArn`, `executionRoleArn`), applied to the
//! task definition in ECS's JSON form (the RegisterTaskDefinition body, and the dry run's copy). Pure.
//!
//! Maps merge by name into the base revision (`null` removes), lists replace. Environment values may be
//! secrets, and so may anything else a person types here: messages and summaries name keys, never values.

use std::collections::BTreeMap;

use aws_sdk_ecs::types::{Compatibility, TaskDefinition};
use serde_json::{Map, Value};

use crate::text::clip;

/// The keys a container override may have.
const CONTAINER_KEYS: [&str; 8] =
    ["environment", "secrets", "command", "entryPoint", "dockerLabels", "cpu", "memory", "memoryReservation"];

/// A map member: set to a value, or removed (`null`).
pub type Entries = BTreeMap<String, Option<String>>;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerOverride {
    pub environment: Entries,
    pub secrets: Entries,
    pub docker_labels: Entries,
    pub command: Option<Vec<String>>,
    pub entry_point: Option<Vec<String>>,
    pub cpu: Option<i64>,
    pub memory: Option<i64>,
    pub memory_reservation: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// By container name.
    pub containers: BTreeMap<String, ContainerOverride>,
    /// Task CPU units and memory MiB, as ECS writes them (`"256"`, `"512"`).
    pub cpu: Option<String>,
    pub memory: Option<String>,
    pub task_role_arn: Option<String>,
    pub execution_role_arn: Option<String>,
}

/// A problem with one key, by its path (`containers.app.environment.FOO`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("\"{path}\" {problem}")]
pub struct OverrideError {
    pub path: String,
    pub problem: String,
}

fn error(path: impl Into<String>, problem: impl Into<String>) -> OverrideError {
    OverrideError { path: path.into(), problem: problem.into() }
}

impl Overrides {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Reads the override keys of a UserParameters object (the others are not looked at).
    pub fn parse(map: &Map<String, Value>) -> Result<Self, OverrideError> {
        let mut out = Self::default();
        if let Some(value) = map.get("containers") {
            let Value::Object(containers) = value else {
                return Err(error(
                    "containers",
                    "must be an object of container names, e.g. {\"app\": {\"environment\": {\"LOG_LEVEL\": \"debug\"}}}",
                ));
            };
            for (name, value) in containers {
                out.containers.insert(name.clone(), container(&format!("containers.{name}"), value)?);
            }
        }
        if let Some(value) = map.get("cpu") {
            out.cpu = Some(units("cpu", value, cpu_units)?.to_string());
        }
        if let Some(value) = map.get("memory") {
            out.memory = Some(units("memory", value, memory_mib)?.to_string());
        }
        for (key, slot) in [("taskRoleArn", &mut out.task_role_arn), ("executionRoleArn", &mut out.execution_role_arn)]
        {
            if let Some(value) = map.get(key) {
                let arn = value.as_str().ok_or_else(|| error(key, "must be an IAM role ARN string"))?;
                if !is_role_arn(arn) {
                    return Err(error(
                        key,
                        format!(
                            "must be an IAM role ARN (arn:aws:iam::<account>:role/<name>), not {:?}",
                            clip(arn, 100)
                        ),
                    ));
                }
                *slot = Some(arn.to_owned());
            }
        }
        Ok(out)
    }

    /// These overrides with `own` (a `services` entry's) over them: its task-level keys replace these, and each
    /// container it names replaces this one's override of that container.
    pub fn with(&self, own: &Self) -> Self {
        let mut merged = self.clone();
        merged.containers.extend(own.containers.iter().map(|(k, v)| (k.clone(), v.clone())));
        for (mine, theirs) in [
            (&mut merged.cpu, &own.cpu),
            (&mut merged.memory, &own.memory),
            (&mut merged.task_role_arn, &own.task_role_arn),
            (&mut merged.execution_role_arn, &own.execution_role_arn),
        ] {
            if theirs.is_some() {
                mine.clone_from(theirs);
            }
        }
        merged
    }

    /// The part of the overrides that goes to `td` when one release goes to several services: the container
    /// overrides of the containers `td` has, and the task-level ones.
    pub fn for_containers_of(&self, td: &TaskDefinition) -> Self {
        let names: Vec<&str> = td.container_definitions().iter().filter_map(|c| c.name()).collect();
        Self {
            containers: self
                .containers
                .iter()
                .filter(|(name, _)| names.contains(&name.as_str()))
                .map(|(name, o)| (name.clone(), o.clone()))
                .collect(),
            ..self.clone()
        }
    }

    /// Checks the overrides against the task definition they apply to: containers exist, and a Fargate task's
    /// cpu and memory form a pair Fargate accepts.
    pub fn check(&self, base: &TaskDefinition) -> Result<(), OverrideError> {
        let names: Vec<&str> = base.container_definitions().iter().filter_map(|c| c.name()).collect();
        for name in self.containers.keys() {
            if !names.contains(&name.as_str()) {
                return Err(error(
                    format!("containers.{name}"),
                    format!("names no container of the task definition; its containers are: {}", names.join(", ")),
                ));
            }
        }
        let fargate = base.requires_compatibilities().contains(&Compatibility::Fargate);
        if fargate && (self.cpu.is_some() || self.memory.is_some()) {
            let cpu = self.cpu.as_deref().or(base.cpu()).and_then(|c| cpu_units(c).ok());
            let memory = self.memory.as_deref().or(base.memory()).and_then(|m| memory_mib(m).ok());
            if let (Some(cpu), Some(memory)) = (cpu, memory)
                && !fargate_accepts(cpu, memory)
            {
                let path = if self.cpu.is_some() { "cpu" } else { "memory" };
                return Err(error(
                    path,
                    format!(
                        "makes {cpu} CPU units with {memory} MiB, which Fargate does not run; {}",
                        fargate_hint(cpu)
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The task-level overrides (besides `containers`), by their key.
    fn task_fields(&self) -> [(&'static str, &Option<String>); 4] {
        [
            ("cpu", &self.cpu),
            ("memory", &self.memory),
            ("taskRoleArn", &self.task_role_arn),
            ("executionRoleArn", &self.execution_role_arn),
        ]
    }

    /// Applies the overrides to a task definition in ECS's JSON form.
    pub fn apply(&self, td: &mut Value) {
        let Some(td) = td.as_object_mut() else { return };
        for (key, value) in self.task_fields() {
            if let Some(value) = value {
                td.insert(key.into(), Value::String(value.clone()));
            }
        }
        let Some(containers) = td.get_mut("containerDefinitions").and_then(Value::as_array_mut) else { return };
        for container in containers.iter_mut().filter_map(Value::as_object_mut) {
            let name = container.get("name").and_then(Value::as_str).unwrap_or_default().to_owned();
            let Some(o) = self.containers.get(&name) else { continue };
            merge_pairs(container, "environment", "value", &o.environment);
            merge_pairs(container, "secrets", "valueFrom", &o.secrets);
            if !o.docker_labels.is_empty() {
                let labels = container.entry("dockerLabels").or_insert_with(|| Value::Object(Map::new()));
                if let Some(labels) = labels.as_object_mut() {
                    for (k, v) in &o.docker_labels {
                        match v {
                            Some(v) => labels.insert(k.clone(), Value::String(v.clone())),
                            None => labels.remove(k),
                        };
                    }
                }
            }
            for (key, list) in [("command", &o.command), ("entryPoint", &o.entry_point)] {
                if let Some(list) = list {
                    container.insert(key.into(), Value::Array(list.iter().cloned().map(Value::String).collect()));
                }
            }
            for (key, n) in [("cpu", o.cpu), ("memory", o.memory), ("memoryReservation", o.memory_reservation)] {
                if let Some(n) = n {
                    container.insert(key.into(), Value::from(n));
                }
            }
        }
    }

    /// One line per override, for the summary: keys and names, never values of environment or secrets.
    pub fn describe(&self) -> Vec<String> {
        let mut lines = Vec::new();
        let names = |entries: &Entries| -> String {
            entries
                .iter()
                .map(|(k, v)| format!("{}{k}", if v.is_some() { "+" } else { "-" }))
                .collect::<Vec<_>>()
                .join(" ")
        };
        for (name, o) in &self.containers {
            for (key, entries) in
                [("environment", &o.environment), ("secrets", &o.secrets), ("dockerLabels", &o.docker_labels)]
            {
                if !entries.is_empty() {
                    lines.push(format!("override containers.{name}.{key}: {}", names(entries)));
                }
            }
            for (key, set) in [("command", o.command.is_some()), ("entryPoint", o.entry_point.is_some())] {
                if set {
                    lines.push(format!("override containers.{name}.{key} (replaced)"));
                }
            }
            for (key, n) in [("cpu", o.cpu), ("memory", o.memory), ("memoryReservation", o.memory_reservation)] {
                if let Some(n) = n {
                    lines.push(format!("override containers.{name}.{key} = {n}"));
                }
            }
        }
        for (key, value) in self.task_fields() {
            if let Some(value) = value {
                lines.push(format!("override {key} = {value}"));
            }
        }
        lines
    }
}

fn container(path: &str, value: &Value) -> Result<ContainerOverride, OverrideError> {
    let Value::Object(map) = value else {
        return Err(error(
            path,
            "must be an object with any of: environment, secrets, command, entryPoint, dockerLabels, cpu, memory, memoryReservation",
        ));
    };
    let mut o = ContainerOverride::default();
    for (key, value) in map {
        let here = format!("{path}.{key}");
        match key.as_str() {
            "environment" => {
                o.environment = entries(&here, value, |name, value, path| {
                    if !is_env_name(name) {
                        return Err(error(
                            path,
                            "is not a valid environment variable name (letters, digits and _, not starting with a digit)",
                        ));
                    }
                    if value.is_some_and(|v| v.len() > 32_768) {
                        return Err(error(path, "is longer than 32 KiB"));
                    }
                    Ok(())
                })?
            }
            "secrets" => {
                o.secrets = entries(&here, value, |name, value, path| {
                    if !is_env_name(name) {
                        return Err(error(
                            path,
                            "is not a valid environment variable name (letters, digits and _, not starting with a digit)",
                        ));
                    }
                    match value {
                        Some(v) if !is_value_from(v) => Err(error(
                            path,
                            "must be a Secrets Manager secret ARN, an SSM parameter ARN or an SSM parameter name (valueFrom)",
                        )),
                        _ => Ok(()),
                    }
                })?
            }
            "dockerLabels" => {
                o.docker_labels =
                    entries(
                        &here,
                        value,
                        |name, _, path| {
                            if name.is_empty() { Err(error(path, "is an empty label")) } else { Ok(()) }
                        },
                    )?
            }
            "command" => o.command = Some(strings(&here, value)?),
            "entryPoint" => o.entry_point = Some(strings(&here, value)?),
            "cpu" => o.cpu = Some(whole(&here, value, 0, 10 * 1024 * 16)?),
            "memory" => o.memory = Some(whole(&here, value, 6, 1 << 20)?),
            "memoryReservation" => o.memory_reservation = Some(whole(&here, value, 6, 1 << 20)?),
            _ => {
                return Err(error(
                    here,
                    format!("is not a container override; valid keys are: {}", CONTAINER_KEYS.join(", ")),
                ));
            }
        }
    }
    Ok(o)
}

/// `{"K": "v" | null}`: each name checked by `check(name, value, path)`.
fn entries(
    path: &str,
    value: &Value,
    check: impl Fn(&str, Option<&str>, &str) -> Result<(), OverrideError>,
) -> Result<Entries, OverrideError> {
    let Value::Object(map) = value else {
        return Err(error(path, "must be an object of names to string values (null removes one)"));
    };
    let mut out = Entries::new();
    for (name, value) in map {
        let here = format!("{path}.{name}");
        let value = match value {
            Value::Null => None,
            Value::String(s) => Some(s.clone()),
            _ => return Err(error(here, "must be a string, or null to remove it")),
        };
        check(name, value.as_deref(), &here)?;
        out.insert(name.clone(), value);
    }
    Ok(out)
}

fn strings(path: &str, value: &Value) -> Result<Vec<String>, OverrideError> {
    value
        .as_array()
        .and_then(|list| list.iter().map(|v| v.as_str().map(str::to_owned)).collect::<Option<Vec<_>>>())
        .ok_or_else(|| error(path, "must be a list of strings (it replaces the container's list)"))
}

fn whole(path: &str, value: &Value, min: i64, max: i64) -> Result<i64, OverrideError> {
    match value.as_i64() {
        Some(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(error(path, format!("must be a whole number from {min} to {max}"))),
    }
}

/// Task `cpu`/`memory`: a string or an integer, in the forms ECS accepts.
fn units(path: &str, value: &Value, read: fn(&str) -> Result<u32, String>) -> Result<u32, OverrideError> {
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return Err(error(path, "must be a string or a number")),
    };
    read(&text).map_err(|problem| error(path, problem))
}

/// CPU units from `"256"`, `256`, `"0.25 vCPU"`, `"1 vcpu"`.
pub fn cpu_units(text: &str) -> Result<u32, String> {
    let t = text.trim().to_ascii_lowercase();
    let units = match t.strip_suffix("vcpu") {
        Some(v) => v.trim().parse::<f64>().ok().map(|v| (v * 1024.0).round()),
        None => t.parse::<f64>().ok().filter(|v| v.fract() == 0.0),
    };
    match units {
        Some(u) if (128.0..=196_608.0).contains(&u) => Ok(u as u32),
        _ => Err(format!("must be CPU units (\"256\", 1024) or vCPUs (\"0.25 vCPU\"), not {:?}", clip(text, 40))),
    }
}

/// MiB from `"512"`, `512`, `"1 GB"`, `"2gb"`.
pub fn memory_mib(text: &str) -> Result<u32, String> {
    let t = text.trim().to_ascii_lowercase();
    let mib = match t.strip_suffix("gb") {
        Some(v) => v.trim().parse::<f64>().ok().map(|v| (v * 1024.0).round()),
        None => t.strip_suffix("mb").unwrap_or(&t).trim().parse::<f64>().ok().filter(|v| v.fract() == 0.0),
    };
    match mib {
        Some(m) if (6.0..=1_048_576.0).contains(&m) => Ok(m as u32),
        _ => Err(format!("must be MiB (\"512\", 2048) or GB (\"1 GB\"), not {:?}", clip(text, 40))),
    }
}

/// Fargate's task CPU and memory combinations (Amazon ECS developer guide, "Task CPU and memory").
const FARGATE: [(u32, u32, u32, u32); 7] = [
    // cpu, lowest MiB, highest MiB, step
    (256, 512, 2048, 512), // 512, 1024 or 2048 only
    (512, 1024, 4096, 1024),
    (1024, 2048, 8192, 1024),
    (2048, 4096, 16384, 1024),
    (4096, 8192, 30720, 1024),
    (8192, 16384, 61440, 4096),
    (16384, 32768, 122880, 8192),
];

pub fn fargate_accepts(cpu: u32, memory: u32) -> bool {
    if cpu == 256 {
        return [512, 1024, 2048].contains(&memory);
    }
    FARGATE
        .iter()
        .any(|(c, lo, hi, step)| *c == cpu && (*lo..=*hi).contains(&memory) && (memory - lo).is_multiple_of(*step))
}

fn fargate_hint(cpu: u32) -> String {
    match FARGATE.iter().find(|(c, ..)| *c == cpu) {
        Some((256, ..)) => "with 256 CPU units it takes 512, 1024 or 2048 MiB".into(),
        Some((_, lo, hi, step)) => format!("with {cpu} CPU units it takes {lo} to {hi} MiB in steps of {step}"),
        None => "its CPU is one of 256, 512, 1024, 2048, 4096, 8192 or 16384 units".into(),
    }
}

pub(crate) fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 255
}

/// A Secrets Manager secret ARN, an SSM parameter ARN, or an SSM parameter name (`name` or `/path/name`).
fn is_value_from(v: &str) -> bool {
    let arn_of = |service: &str, resource: &str| {
        let parts: Vec<&str> = v.splitn(6, ':').collect();
        parts.len() == 6
            && parts[0] == "arn"
            && parts[1].starts_with("aws")
            && parts[2] == service
            && !parts[3].is_empty()
            && parts[4].len() == 12
            && parts[5].starts_with(resource)
            && parts[5].len() > resource.len()
    };
    if v.starts_with("arn:") {
        return arn_of("secretsmanager", "secret:") || arn_of("ssm", "parameter/");
    }
    !v.is_empty()
        && v.len() <= 2048
        && v.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '/'))
        && !v.ends_with('/')
}

fn is_role_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "iam"
        && parts[4].len() == 12
        && parts[5].starts_with("role/")
        && parts[5].len() > 5
}

/// Merges `{"K": v | null}` into a `[{"name": K, <field>: v}]` list.
fn merge_pairs(container: &mut Map<String, Value>, key: &str, field: &str, entries: &Entries) {
    if entries.is_empty() {
        return;
    }
    let list = container.entry(key).or_insert_with(|| Value::Array(Vec::new()));
    if !list.is_array() {
        *list = Value::Array(Vec::new());
    }
    let Some(list) = list.as_array_mut() else { return };
    for (name, value) in entries {
        let at = list.iter().position(|e| e.get("name").and_then(Value::as_str) == Some(name.as_str()));
        match (value, at) {
            (Some(v), Some(i)) => list[i][field] = Value::String(v.clone()),
            (Some(v), None) => list.push(serde_json::json!({"name": name, field: v})),
            (None, Some(i)) => {
                list.remove(i);
            }
            (None, None) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_ecs::types::ContainerDefinition;
    use serde_json::json;

    use super::*;

    fn parse(v: Value) -> Result<Overrides, OverrideError> {
        Overrides::parse(v.as_object().unwrap())
    }

    fn base(cpu: &str, memory: &str) -> TaskDefinition {
        TaskDefinition::builder()
            .cpu(cpu)
            .memory(memory)
            .requires_compatibilities(Compatibility::Fargate)
            .container_definitions(ContainerDefinition::builder().name("app").build())
            .container_definitions(ContainerDefinition::builder().name("envoy").build())
            .build()
    }

    #[test]
    fn every_override_lands_where_it_belongs() {
        let o = parse(json!({
            "containers": {"app": {
                "environment": {"LOG_LEVEL": "debug", "OLD": null, "MODE": "green"},
                "secrets": {"DB_PASSWORD": "arn:aws:secretsmanager:eu-west-1:111111111111:secret:db-AbCdEf", "API_KEY": "/prod/api-key"},
                "command": ["serve", "--port", "8080"],
                "entryPoint": ["/bin/app"],
                "dockerLabels": {"team": "payments", "old": null},
                "cpu": 128, "memory": 256, "memoryReservation": 128
            }},
            "cpu": "0.5 vCPU", "memory": "1 GB",
            "taskRoleArn": "arn:aws:iam::111111111111:role/web-task",
            "executionRoleArn": "arn:aws:iam::111111111111:role/web-exec"
        }))
        .unwrap();
        let mut td = json!({"cpu": "256", "memory": "512", "containerDefinitions": [
            {"name": "app", "image": "a", "environment": [{"name": "MODE", "value": "blue"}, {"name": "OLD", "value": "x"}],
             "dockerLabels": {"old": "1", "keep": "2"}, "command": ["old"]},
            {"name": "envoy", "image": "e"}
        ]});
        o.apply(&mut td);
        assert_eq!(td["cpu"], "512");
        assert_eq!(td["memory"], "1024");
        assert_eq!(td["taskRoleArn"], "arn:aws:iam::111111111111:role/web-task");
        let app = &td["containerDefinitions"][0];
        assert_eq!(
            app["environment"],
            json!([{"name": "MODE", "value": "green"}, {"name": "LOG_LEVEL", "value": "debug"}])
        );
        assert_eq!(
            app["secrets"],
            json!([{"name": "API_KEY", "valueFrom": "/prod/api-key"}, {"name": "DB_PASSWORD", "valueFrom": "arn:aws:secretsmanager:eu-west-1:111111111111:secret:db-AbCdEf"}])
        );
        assert_eq!(app["dockerLabels"], json!({"keep": "2", "team": "payments"}));
        assert_eq!(
            (app["command"].clone(), app["entryPoint"].clone()),
            (json!(["serve", "--port", "8080"]), json!(["/bin/app"]))
        );
        assert_eq!(
            (app["cpu"].clone(), app["memory"].clone(), app["memoryReservation"].clone()),
            (json!(128), json!(256), json!(128))
        );
        assert_eq!(td["containerDefinitions"][1], json!({"name": "envoy", "image": "e"}));
        o.check(&base("256", "512")).unwrap();
        let described = o.describe().join("\n");
        assert!(described.contains("override containers.app.environment: +LOG_LEVEL +MODE -OLD"), "{described}");
        assert!(described.contains("override containers.app.secrets: +API_KEY +DB_PASSWORD"), "{described}");
        assert!(
            !described.contains("debug") && !described.contains("green") && !described.contains("secret:db"),
            "{described}"
        );
    }

    #[test]
    fn refusals_name_the_key_path() {
        for (value, expected) in [
            (json!({"containers": []}), "\"containers\" must be an object"),
            (
                json!({"containers": {"app": {"environment": {"": "x"}}}}),
                "\"containers.app.environment.\" is not a valid environment variable name",
            ),
            (
                json!({"containers": {"app": {"environment": {"1FOO": "x"}}}}),
                "\"containers.app.environment.1FOO\" is not a valid",
            ),
            (
                json!({"containers": {"app": {"environment": {"FOO": 3}}}}),
                "\"containers.app.environment.FOO\" must be a string, or null",
            ),
            (
                json!({"containers": {"app": {"secrets": {"DB": "arn:aws:s3:::bucket/key"}}}}),
                "\"containers.app.secrets.DB\" must be a Secrets Manager secret ARN",
            ),
            (json!({"containers": {"app": {"secrets": {"DB": "has space"}}}}), "\"containers.app.secrets.DB\" must be"),
            (json!({"containers": {"app": {"memroy": 512}}}), "\"containers.app.memroy\" is not a container override"),
            (
                json!({"containers": {"app": {"command": "serve"}}}),
                "\"containers.app.command\" must be a list of strings",
            ),
            (json!({"cpu": "a lot"}), "\"cpu\" must be CPU units"),
            (json!({"memory": "1 TB"}), "\"memory\" must be MiB"),
            (json!({"taskRoleArn": "web-task"}), "\"taskRoleArn\" must be an IAM role ARN"),
        ] {
            let message = parse(value.clone()).unwrap_err().to_string();
            assert!(message.contains(expected), "{value}: {message}");
        }
        let o = parse(json!({"containers": {"sidecar": {"cpu": 64}}})).unwrap();
        let message = o.check(&base("256", "512")).unwrap_err().to_string();
        assert_eq!(
            message,
            "\"containers.sidecar\" names no container of the task definition; its containers are: app, envoy"
        );
        let o = parse(json!({"memory": 4096})).unwrap();
        let message = o.check(&base("256", "512")).unwrap_err().to_string();
        assert!(message.contains("256 CPU units with 4096 MiB, which Fargate does not run; with 256 CPU units it takes 512, 1024 or 2048 MiB"), "{message}");
    }

    #[test]
    fn cpu_and_memory_forms() {
        for (text, units) in [("256", 256), ("0.25 vCPU", 256), ("1 vcpu", 1024), ("2vCPU", 2048), ("16384", 16384)] {
            assert_eq!(cpu_units(text), Ok(units), "{text}");
        }
        for (text, mib) in [("512", 512), ("1 GB", 1024), ("2gb", 2048), ("0.5 GB", 512), ("3072 MB", 3072)] {
            assert_eq!(memory_mib(text), Ok(mib), "{text}");
        }
        assert!(cpu_units("0.1 vCPU").is_err() && cpu_units("256.5").is_err() && memory_mib("-1").is_err());
        for (cpu, memory, ok) in [
            (256, 512, true),
            (256, 2048, true),
            (256, 1536, false),
            (256, 4096, false),
            (512, 1024, true),
            (512, 1536, false),
            (4096, 30720, true),
            (8192, 20480, true),
            (8192, 18432, false),
            (16384, 122880, true),
            (300, 1024, false),
        ] {
            assert_eq!(fargate_accepts(cpu, memory), ok, "{cpu}/{memory}");
        }
    }

    #[test]
    fn each_service_gets_the_overrides_of_the_containers_it_has() {
        let overrides =
            parse(json!({"containers": {"web": {"environment": {"A": "1"}}, "worker": {"command": ["run"]}}})).unwrap();
        let td = |names: &[&str]| {
            TaskDefinition::builder()
                .set_container_definitions(Some(
                    names.iter().map(|n| ContainerDefinition::builder().name(*n).build()).collect(),
                ))
                .build()
        };
        let keys = |o: &Overrides| o.containers.keys().cloned().collect::<Vec<_>>();
        assert_eq!(keys(&overrides.for_containers_of(&td(&["web", "log-router"]))), ["web"]);
        assert_eq!(keys(&overrides.for_containers_of(&td(&["web", "worker"]))), ["web", "worker"]);
        assert!(overrides.for_containers_of(&td(&["cron"])).is_empty());
    }
}
