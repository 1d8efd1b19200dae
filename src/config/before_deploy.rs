//! `beforeDeploy`: a one-off task (database migrations, say) run on the release's new revision after it is
//! registered and before any service is updated, and `schedules`/`rules`: the scheduled tasks that move to the
//! new revision after every service succeeded. Validation only; the engine runs them.
//!
//! Environment values may be secrets: nothing here prints them (the `Debug` of [`BeforeDeploy`] names keys only).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::{ParamsError, invalid, wrong_type};
use crate::text::{clip, json_kind};

/// Default and bounds of `beforeDeploy.timeoutMinutes`.
pub const DEFAULT_TASK_TIMEOUT_MINUTES: u32 = 10;
pub const MAX_TASK_TIMEOUT_MINUTES: u32 = 120;
/// RunTask's `count` range.
pub const MAX_TASK_COUNT: u32 = 10;
/// At most this many schedules, and this many rules.
pub const MAX_SCHEDULES: usize = 10;
/// RunTask's overrides JSON limit (characters).
pub const MAX_OVERRIDES_CHARS: usize = 8192;

const KEYS: [&str; 8] = [
    "container",
    "command",
    "environment",
    "cluster",
    "taskDefinition",
    "networkConfiguration",
    "count",
    "timeoutMinutes",
];

/// The task run before the services move.
#[derive(Clone, PartialEq, Eq)]
pub struct BeforeDeploy {
    /// The container whose exit code decides (with every essential container's); `None`: the only container.
    pub container: Option<String>,
    pub command: Option<Vec<String>>,
    /// Environment overrides (values may be secrets: never logged or summarised).
    pub environment: BTreeMap<String, String>,
    /// Default: the first target's cluster.
    pub cluster: Option<String>,
    /// Another family's revision (or family) to run instead of the first target's new revision.
    pub task_definition: Option<String>,
    /// `{"awsvpcConfiguration": {…}}` as RunTask takes it; default: the first target's service's.
    pub network: Option<Value>,
    pub count: u32,
    pub timeout_minutes: u32,
}

impl std::fmt::Debug for BeforeDeploy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BeforeDeploy")
            .field("container", &self.container)
            .field("command", &self.command.as_ref().map(|c| format!("{} arguments", c.len())))
            .field("environment", &self.environment.keys().collect::<Vec<_>>())
            .field("cluster", &self.cluster)
            .field("task_definition", &self.task_definition)
            .field("network", &self.network.is_some())
            .field("count", &self.count)
            .field("timeout_minutes", &self.timeout_minutes)
            .finish()
    }
}

/// The scheduled tasks a release moves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedules {
    /// EventBridge Scheduler schedules, by name, in `group`.
    pub schedules: Vec<String>,
    pub group: String,
    /// EventBridge rules, by name, on `bus`.
    pub rules: Vec<String>,
    pub bus: String,
}

impl Default for Schedules {
    fn default() -> Self {
        Self { schedules: Vec::new(), group: "default".into(), rules: Vec::new(), bus: "default".into() }
    }
}

impl Schedules {
    pub fn is_empty(&self) -> bool {
        self.schedules.is_empty() && self.rules.is_empty()
    }

    /// Every name, as the token and the summaries write it: `schedule <group>/<name>`, `rule <bus>/<name>`.
    pub fn items(&self) -> Vec<(Kind, String)> {
        self.schedules
            .iter()
            .map(|s| (Kind::Schedule, s.clone()))
            .chain(self.rules.iter().map(|r| (Kind::Rule, r.clone())))
            .collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Schedule,
    Rule,
}

pub fn parse_before_deploy(map: &Map<String, Value>) -> Result<Option<BeforeDeploy>, ParamsError> {
    const KEY: &str = "beforeDeploy";
    let Some(value) = map.get(KEY) else { return Ok(None) };
    let Value::Object(o) = value else {
        return Err(wrong_type(
            KEY,
            "an object such as {\"container\": \"app\", \"command\": [\"./migrate\", \"--up\"]}",
            value,
        ));
    };
    if let Some(extra) = o.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(invalid(
            KEY,
            format!(
                "has an unknown key {:?}; it may have {}",
                clip(extra, 64),
                KEYS.map(|k| format!("\"{k}\"")).join(", ")
            ),
        ));
    }
    let problem = |what: String| invalid(KEY, what);
    let name = |key: &str| -> Result<Option<String>, ParamsError> {
        match o.get(key) {
            None => Ok(None),
            Some(Value::String(s)) if !s.is_empty() && s.trim() == s && s.len() <= 1600 => Ok(Some(s.clone())),
            Some(other) => Err(problem(format!("\"{key}\" must be a non-empty name or ARN, not {}", kind(other)))),
        }
    };
    let command = match o.get("command") {
        None => None,
        Some(Value::Array(items)) if !items.is_empty() => Some(
            items
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect::<Option<Vec<String>>>()
                .ok_or_else(|| problem("\"command\" must be a list of strings".into()))?,
        ),
        Some(other) => {
            return Err(problem(format!(
                "\"command\" must be a non-empty list of strings such as [\"./migrate\", \"--up\"], not {}",
                kind(other)
            )));
        }
    };
    let mut environment = BTreeMap::new();
    if let Some(value) = o.get("environment") {
        let Value::Object(env) = value else {
            return Err(problem(format!(
                "\"environment\" must be an object of names and string values, not {}",
                json_kind(value)
            )));
        };
        for (k, v) in env {
            if !super::overrides::is_env_name(k) {
                return Err(problem(format!(
                    "\"environment.{}\" is not a valid environment variable name (letters, digits and _, not starting \
                     with a digit)",
                    clip(k, 64)
                )));
            }
            // The value is never shown: it may be a secret.
            let Value::String(v) = v else {
                return Err(problem(format!("\"environment.{k}\" must be a string (its value is not shown)")));
            };
            environment.insert(k.clone(), v.clone());
        }
    }
    let network = match o.get("networkConfiguration") {
        None => None,
        Some(v) => Some(network(v).map_err(problem)?),
    };
    let number = |key: &str, default: u32, max: u32, unit: &str| -> Result<u32, ParamsError> {
        match o.get(key) {
            None => Ok(default),
            Some(v) => match v.as_u64() {
                Some(n) if (1..=u64::from(max)).contains(&n) => Ok(n as u32),
                _ => Err(problem(format!("\"{key}\" must be a whole number from 1 to {max} {unit}, not {}", kind(v)))),
            },
        }
    };
    let before = BeforeDeploy {
        container: name("container")?,
        command,
        environment,
        cluster: name("cluster")?,
        task_definition: name("taskDefinition")?,
        network,
        count: number("count", 1, MAX_TASK_COUNT, "tasks")?,
        timeout_minutes: number("timeoutMinutes", DEFAULT_TASK_TIMEOUT_MINUTES, MAX_TASK_TIMEOUT_MINUTES, "minutes")?,
    };
    let overrides = serde_json::to_string(&before.container_override("app")).unwrap_or_default();
    if overrides.len() > MAX_OVERRIDES_CHARS {
        return Err(problem(format!(
            "makes RunTask overrides of {} characters; ECS takes at most {MAX_OVERRIDES_CHARS}",
            overrides.len()
        )));
    }
    Ok(Some(before))
}

impl BeforeDeploy {
    /// RunTask's `containerOverrides` entry for `container` (JSON, as ECS takes it).
    pub fn container_override(&self, container: &str) -> Value {
        let mut o = Map::new();
        o.insert("name".into(), Value::String(container.to_owned()));
        if let Some(command) = &self.command {
            o.insert("command".into(), command.iter().cloned().map(Value::String).collect());
        }
        if !self.environment.is_empty() {
            o.insert(
                "environment".into(),
                self.environment
                    .iter()
                    .map(|(k, v)| serde_json::json!({"name": k, "value": v}))
                    .collect::<Vec<_>>()
                    .into(),
            );
        }
        Value::Object(o)
    }
}

/// `{"awsvpcConfiguration": {"subnets": […], "securityGroups": […], "assignPublicIp": "ENABLED"|"DISABLED"}}`.
fn network(value: &Value) -> Result<Value, String> {
    let shape = "\"networkConfiguration\" must be {\"awsvpcConfiguration\": {\"subnets\": [\"subnet-…\"], \
                 \"securityGroups\": [\"sg-…\"], \"assignPublicIp\": \"DISABLED\"}}";
    let vpc = value
        .as_object()
        .filter(|o| o.len() == 1)
        .and_then(|o| o.get("awsvpcConfiguration"))
        .and_then(Value::as_object)
        .ok_or_else(|| shape.to_owned())?;
    for (key, v) in vpc {
        let ok = match key.as_str() {
            "subnets" => v.as_array().is_some_and(|a| {
                !a.is_empty() && a.len() <= 16 && a.iter().all(|s| s.as_str().is_some_and(|s| s.starts_with("subnet-")))
            }),
            "securityGroups" => v
                .as_array()
                .is_some_and(|a| a.len() <= 5 && a.iter().all(|s| s.as_str().is_some_and(|s| s.starts_with("sg-")))),
            "assignPublicIp" => matches!(v.as_str(), Some("ENABLED" | "DISABLED")),
            _ => false,
        };
        if !ok {
            return Err(format!("{shape} (\"{}\" is not)", clip(key, 64)));
        }
    }
    if !vpc.contains_key("subnets") {
        return Err(format!("{shape} (\"subnets\" is required)"));
    }
    Ok(value.clone())
}

fn kind(v: &Value) -> String {
    match v {
        Value::String(s) => format!("the string {:?}", clip(s, 64)),
        Value::Number(n) => format!("the number {n}"),
        other => json_kind(other).to_owned(),
    }
}

/// `schedules`, `scheduleGroup`, `rules`, `eventBus`.
pub fn parse_schedules(map: &Map<String, Value>) -> Result<Schedules, ParamsError> {
    let list = |key: &'static str, rule: fn(&str) -> bool, what: &str| -> Result<Vec<String>, ParamsError> {
        let Some(value) = map.get(key) else { return Ok(Vec::new()) };
        let Value::Array(items) = value else {
            return Err(wrong_type(key, "a list of names", value));
        };
        if items.is_empty() || items.len() > MAX_SCHEDULES {
            return Err(invalid(key, format!("must list 1 to {MAX_SCHEDULES} names, not {}", items.len())));
        }
        let mut names: Vec<String> = Vec::new();
        for item in items {
            match item.as_str() {
                Some(s) if rule(s) && !names.iter().any(|n| n == s) => names.push(s.to_owned()),
                Some(s) if rule(s) => return Err(invalid(key, format!("lists {s:?} twice"))),
                _ => return Err(invalid(key, format!("must list {what}, not {}", kind(item)))),
            }
        }
        Ok(names)
    };
    let single = |key: &'static str, rule: fn(&str) -> bool, what: &str| -> Result<String, ParamsError> {
        match map.get(key) {
            None => Ok("default".to_owned()),
            Some(Value::String(s)) if rule(s) => Ok(s.clone()),
            Some(other) => Err(invalid(key, format!("must be {what}, not {}", kind(other)))),
        }
    };
    let schedules = list("schedules", is_schedule_name, "schedule names (1–64 letters, digits, '.', '-', '_')")?;
    let rules = list("rules", is_schedule_name, "rule names (1–64 letters, digits, '.', '-', '_')")?;
    let group =
        single("scheduleGroup", is_schedule_name, "a schedule group name (1–64 letters, digits, '.', '-', '_')")?;
    let bus = single("eventBus", is_bus, "an event bus name or ARN")?;
    if map.contains_key("scheduleGroup") && schedules.is_empty() {
        return Err(invalid("scheduleGroup", "is the group of \"schedules\"; set those too"));
    }
    if map.contains_key("eventBus") && rules.is_empty() {
        return Err(invalid("eventBus", "is the event bus of \"rules\"; set those too"));
    }
    Ok(Schedules { schedules, group, rules, bus })
}

/// EventBridge Scheduler's schedule and group names, and EventBridge rule names: `[0-9a-zA-Z-_.]{1,64}`.
pub fn is_schedule_name(s: &str) -> bool {
    (1..=64).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// An event bus name (`[/\.\-_A-Za-z0-9]{1,256}`) or ARN.
fn is_bus(s: &str) -> bool {
    (1..=1600).contains(&s.len())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/' | ':'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn before(json: &str) -> Result<Option<BeforeDeploy>, String> {
        let map: Map<String, Value> = serde_json::from_str(json).unwrap();
        parse_before_deploy(&map).map_err(|e| e.to_string())
    }

    #[test]
    fn before_deploy_defaults_and_every_key() {
        let b = before(r#"{"beforeDeploy": {}}"#).unwrap().unwrap();
        assert_eq!((b.count, b.timeout_minutes, b.container.as_deref()), (1, 10, None));
        let b = before(
            r#"{"beforeDeploy": {"container": "app", "command": ["./migrate", "--up"], "environment": {"DB_URL": "postgres://u:p@h/db"},
                "cluster": "batch", "taskDefinition": "migrations:3", "count": 2, "timeoutMinutes": 120,
                "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-1"], "securityGroups": ["sg-1"], "assignPublicIp": "DISABLED"}}}}"#,
        )
        .unwrap()
        .unwrap();
        assert_eq!(b.command.as_deref().unwrap(), ["./migrate", "--up"]);
        assert_eq!((b.count, b.timeout_minutes), (2, 120));
        let debug = format!("{b:?}");
        assert!(debug.contains("DB_URL") && !debug.contains("postgres://"), "{debug}");
        assert_eq!(
            b.container_override("app"),
            serde_json::json!({"name": "app", "command": ["./migrate", "--up"], "environment": [{"name": "DB_URL", "value": "postgres://u:p@h/db"}]})
        );
    }

    #[test]
    fn before_deploy_refusals_name_the_key_never_a_value() {
        for (json, words) in [
            (r#"{"beforeDeploy": []}"#, "must be an object"),
            (r#"{"beforeDeploy": {"comand": ["x"]}}"#, "unknown key \"comand\""),
            (r#"{"beforeDeploy": {"command": "./migrate"}}"#, "non-empty list of strings"),
            (r#"{"beforeDeploy": {"command": []}}"#, "non-empty list of strings"),
            (r#"{"beforeDeploy": {"timeoutMinutes": 121}}"#, "from 1 to 120 minutes"),
            (r#"{"beforeDeploy": {"count": 0}}"#, "from 1 to 10 tasks"),
            (r#"{"beforeDeploy": {"environment": {"1X": "s3cr3t"}}}"#, "environment.1X"),
            (r#"{"beforeDeploy": {"environment": {"X": 5}}}"#, "must be a string (its value is not shown)"),
            (
                r#"{"beforeDeploy": {"networkConfiguration": {"awsvpcConfiguration": {"subnets": []}}}}"#,
                "\"subnets\" is not",
            ),
            (
                r#"{"beforeDeploy": {"networkConfiguration": {"awsvpcConfiguration": {"securityGroups": ["sg-1"]}}}}"#,
                "\"subnets\" is required",
            ),
        ] {
            let message = before(json).unwrap_err();
            assert!(message.contains(words), "{json}: {message}");
            assert!(!message.contains("s3cr3t"), "{message}");
        }
        let long = format!(r#"{{"beforeDeploy": {{"environment": {{"A": "{}"}}}}}}"#, "x".repeat(9000));
        assert!(before(&long).unwrap_err().contains("at most 8192"));
    }

    #[test]
    fn schedules_and_rules() {
        let parse = |json: &str| {
            let map: Map<String, Value> = serde_json::from_str(json).unwrap();
            parse_schedules(&map).map_err(|e| e.to_string())
        };
        let s = parse(
            r#"{"schedules": ["nightly-report", "hourly"], "scheduleGroup": "batch", "rules": ["cleanup-cron"]}"#,
        )
        .unwrap();
        assert_eq!((s.group.as_str(), s.bus.as_str()), ("batch", "default"));
        assert_eq!(s.items().len(), 3);
        assert!(parse("{}").unwrap().is_empty());
        for (json, words) in [
            (r#"{"schedules": []}"#, "1 to 10 names"),
            (r#"{"schedules": ["a b"]}"#, "schedule names"),
            (r#"{"schedules": ["a", "a"]}"#, "twice"),
            (r#"{"scheduleGroup": "batch"}"#, "set those too"),
            (r#"{"eventBus": "ops"}"#, "set those too"),
            (r#"{"rules": "x"}"#, "a list of names"),
        ] {
            let message = parse(json).unwrap_err();
            assert!(message.contains(words), "{json}: {message}");
        }
    }
}
