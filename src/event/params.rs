//! `UserParameters`: the action's configuration, a JSON object (the public contract; README documents it).
//!
//! Validation only: every problem names the key, suggests the nearest valid key for a typo, and says what
//! a valid value looks like.

use serde_json::{Map, Value};

use crate::overrides::{OverrideError, Overrides};
use crate::text::{clip, edit_distance};
pub use crate::token::OnTimeout;

/// The file name used when `fileName` is not given.
pub const DEFAULT_FILE_NAME: &str = "imagedefinitions.json";
/// The name CodePipeline's ECR source action and CodeDeploy blue/green use for a single-image file.
pub const IMAGE_DETAIL_FILE_NAME: &str = "imageDetail.json";
/// Default and bounds of `timeoutMinutes` (CodePipeline fails any action after 24 hours).
pub const DEFAULT_TIMEOUT_MINUTES: u32 = 60;
pub const MAX_TIMEOUT_MINUTES: u32 = 1440;

const EXAMPLE: &str = r#"{"cluster": "prod", "service": "web"}"#;

/// Every key the contract accepts, in the order README lists them (`readme_lists_every_key_in_order`).
pub const KEYS: [&str; 25] = [
    "action",
    "cluster",
    "service",
    "services",
    "atomic",
    "taskDefinition",
    "serviceDeploymentArn",
    "hookId",
    "artifact",
    "fileName",
    "containerName",
    "wait",
    "timeoutMinutes",
    "onTimeout",
    "forceNewDeployment",
    "containers",
    "cpu",
    "memory",
    "taskRoleArn",
    "executionRoleArn",
    "taskDefinitionFile",
    "verifyImages",
    "keepRevisions",
    "dryRun",
    "deployFile",
];

/// Keys a deploy file may not hold: what the action is, where the file is read from, and the file itself.
const NOT_IN_DEPLOY_FILE: [(&str, &str); 4] = [
    ("action", "the pipeline says what the action does"),
    ("services", "the pipeline says where; every later look at the deployments reads the services from it"),
    ("deployFile", "a deploy file does not name another one"),
    ("artifact", "the deploy file is read from that artifact, so the pipeline names it"),
];

/// Keys of CodePipeline's built-in "Amazon ECS" action, which people migrating from it will type.
const BUILT_IN_ACTION_KEYS: [(&str, &str); 4] = [
    ("ClusterName", "cluster"),
    ("ServiceName", "service"),
    ("FileName", "fileName"),
    ("DeploymentTimeout", "timeoutMinutes"),
];

/// What the action does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Release the build's images (or, with `taskDefinition`, promote an existing revision).
    Deploy,
    /// Continue a deployment waiting at a pause hook.
    Continue,
    /// Roll the service back.
    Rollback,
}

impl Action {
    pub fn name(self) -> &'static str {
        match self {
            Self::Deploy => "deploy",
            Self::Continue => "continue",
            Self::Rollback => "rollback",
        }
    }
}

/// How far to follow the deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    No,
    /// Until it succeeds or fails.
    Yes,
    /// Until it succeeds, fails, or waits at a pause hook.
    Paused,
}

/// At most this many services in `services` (the continuation token must hold them all).
pub const MAX_SERVICES: usize = 10;

/// One service a release goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceTarget {
    pub cluster: String,
    pub service: String,
}

/// Validated `UserParameters`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Params {
    pub action: Action,
    pub cluster: String,
    pub service: String,
    /// `services`: several services released together (empty: the one `service`).
    pub services: Vec<ServiceTarget>,
    /// With `services`: when one fails, roll the others back.
    pub atomic: bool,
    /// deploy: the existing revision to promote; rollback: the revision to roll back to.
    pub task_definition: Option<String>,
    /// continue: the service deployment (default: the service's current one) and its hook.
    pub service_deployment_arn: Option<String>,
    pub hook_id: Option<String>,
    /// The input artifact to read; `None` means "the only one".
    pub artifact: Option<String>,
    pub file_name: String,
    pub container_name: Option<String>,
    pub wait: Wait,
    /// `None`: the default, or longer when the service's deployment strategy bakes longer.
    pub timeout_minutes: Option<u32>,
    pub on_timeout: OnTimeout,
    pub force_new_deployment: bool,
    /// Changes beyond the image: `containers`, `cpu`, `memory`, `taskRoleArn`, `executionRoleArn`.
    pub overrides: Overrides,
    /// A task definition in the artifact to register (instead of building on the running revision).
    pub task_definition_file: Option<String>,
    /// After a final success, deregister the family's ACTIVE revisions beyond the newest N (1–100).
    pub keep_revisions: Option<u32>,
    /// Look every ECR image up (ECR DescribeImages) before registering anything (default on).
    pub verify_images: bool,
    /// Read, describe, plan and validate, then report the plan; change nothing.
    pub dry_run: bool,
    /// A JSON file in the input artifact holding more of these keys (merged by [`with_deploy_file`]).
    pub deploy_file: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamsError {
    #[error("UserParameters is missing; set it to a JSON object such as {EXAMPLE}")]
    Missing,
    #[error("UserParameters is not valid JSON ({0}); set it to a JSON object such as {EXAMPLE}")]
    NotJson(String),
    #[error("UserParameters must be a JSON object, not {0}; for example {EXAMPLE}")]
    NotObject(&'static str),
    #[error("UserParameters has an unknown key \"{key}\"{hint}; valid keys are: {valid}", valid = KEYS.join(", "))]
    UnknownKey { key: String, hint: String },
    #[error("UserParameters key \"{key}\" must be {expected}, not {found}")]
    WrongType { key: &'static str, expected: &'static str, found: String },
    #[error("UserParameters key \"{key}\" is required: {meaning}; for example {EXAMPLE}")]
    MissingKey { key: &'static str, meaning: &'static str },
    #[error("UserParameters key \"{key}\" {problem}")]
    Invalid { key: &'static str, problem: String },
    #[error("UserParameters key {0}")]
    Override(#[from] OverrideError),
    #[error("the deploy file {file} {problem}")]
    DeployFile { file: String, problem: String },
    #[error("{source} (the key is set in the deploy file {file})")]
    InDeployFile { file: String, source: Box<ParamsError> },
}

impl ParamsError {
    /// The key the problem is about, when it is about one.
    fn key(&self) -> Option<&str> {
        match self {
            Self::UnknownKey { key, .. } => Some(key),
            Self::WrongType { key, .. } | Self::MissingKey { key, .. } | Self::Invalid { key, .. } => Some(key),
            Self::Override(e) => e.path.split('.').next(),
            _ => None,
        }
    }
}

/// Parses and validates the `UserParameters` string.
///
/// With `deployFile`, the keys given are checked but the whole is validated only once the deploy file is
/// merged in ([`with_deploy_file`]): `cluster` and `service`, for example, may be in the file (empty here).
pub fn parse(raw: Option<&str>) -> Result<Params, ParamsError> {
    let map = object(raw)?;
    let complete = !map.contains_key("deployFile");
    validate(&map, complete)
}

/// The parameters once the deploy file `file` (its bytes `content`) is merged into `UserParameters`: any key
/// but `action`, `deployFile` and `artifact`, and none that `UserParameters` sets too ("set it in one place").
pub fn with_deploy_file(raw: Option<&str>, file: &str, content: &[u8]) -> Result<Params, ParamsError> {
    let mut map = object(raw)?;
    let problem = |problem: String| ParamsError::DeployFile { file: clip(file, 200), problem };
    let value: Value = serde_json::from_slice(content).map_err(|e| problem(format!("is not valid JSON ({e})")))?;
    let Value::Object(extra) = value else {
        return Err(problem(format!("must hold a JSON object of UserParameters keys, not {}", json_kind(&value))));
    };
    for (key, value) in extra {
        if let Some((_, why)) = NOT_IN_DEPLOY_FILE.iter().find(|(k, _)| *k == key) {
            return Err(problem(format!("sets \"{key}\", which only UserParameters may set: {why}")));
        }
        if !KEYS.contains(&key.as_str()) {
            let error = ParamsError::UnknownKey { key: clip(&key, 64), hint: suggestion(&key) };
            return Err(ParamsError::InDeployFile { file: clip(file, 200), source: Box::new(error) });
        }
        if key == "cluster" && map.contains_key("services") {
            return Err(problem(
                "sets \"cluster\" while UserParameters sets \"services\": the services' cluster belongs beside them \
                 in UserParameters"
                    .into(),
            ));
        }
        if map.contains_key(&key) {
            return Err(problem(format!(
                "sets \"{key}\", which UserParameters sets too; set it in one place (the pipeline says where: \
                 cluster and services; the build says what: files and options)"
            )));
        }
        map.insert(key, value);
    }
    let from_file = |key: &str| !object(raw).is_ok_and(|user| user.contains_key(key));
    validate(&map, true).map_err(|e| match e.key() {
        Some(key) if from_file(key) => ParamsError::InDeployFile { file: clip(file, 200), source: Box::new(e) },
        _ => e,
    })
}

fn object(raw: Option<&str>) -> Result<Map<String, Value>, ParamsError> {
    let raw = raw.map(str::trim).filter(|s| !s.is_empty()).ok_or(ParamsError::Missing)?;
    let value: Value = serde_json::from_str(raw).map_err(|e| ParamsError::NotJson(e.to_string()))?;
    match value {
        Value::Object(map) => Ok(map),
        other => Err(ParamsError::NotObject(json_kind(&other))),
    }
}

fn validate(map: &Map<String, Value>, complete: bool) -> Result<Params, ParamsError> {
    if let Some(key) = map.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(ParamsError::UnknownKey { key: clip(key, 64), hint: suggestion(key) });
    }
    let fields = Fields(map);
    let action = fields.action()?;
    fields.only_with(action)?;
    let required = |key: &'static str, meaning: &'static str| match fields.optional_name(key)? {
        Some(name) => Ok(name),
        None if !complete => Ok(String::new()),
        None => Err(ParamsError::MissingKey { key, meaning }),
    };
    let services = fields.services()?;
    let needs_cluster = services.is_empty() || services.iter().any(|t| t.cluster.is_empty());
    let params = Params {
        action,
        cluster: if needs_cluster {
            required("cluster", "the ECS cluster name or ARN")?
        } else {
            fields.optional_name("cluster")?.unwrap_or_default()
        },
        service: if services.is_empty() {
            required("service", "the ECS service name or ARN (or \"services\": a list of them)")?
        } else {
            String::new()
        },
        services: services
            .into_iter()
            .map(|t| match t.cluster.is_empty() {
                true => {
                    ServiceTarget { cluster: fields.optional_name("cluster").ok().flatten().unwrap_or_default(), ..t }
                }
                false => t,
            })
            .collect(),
        atomic: fields.bool("atomic", false)?,
        task_definition: fields.optional_name("taskDefinition")?,
        service_deployment_arn: fields.optional_name("serviceDeploymentArn")?,
        hook_id: fields.optional_name("hookId")?,
        artifact: fields.optional_name("artifact")?,
        file_name: fields.file_name("fileName")?,
        container_name: fields.optional_name("containerName")?,
        wait: fields.wait(action)?,
        timeout_minutes: fields.timeout_minutes()?,
        on_timeout: fields.on_timeout()?,
        force_new_deployment: fields.bool("forceNewDeployment", false)?,
        overrides: Overrides::parse(map)?,
        keep_revisions: fields.keep_revisions()?,
        task_definition_file: match fields.0.contains_key("taskDefinitionFile") {
            true => Some(fields.file_name("taskDefinitionFile")?),
            false => None,
        },
        verify_images: fields.bool("verifyImages", true)?,
        dry_run: fields.bool("dryRun", false)?,
        deploy_file: match fields.0.contains_key("deployFile") {
            true => Some(fields.file_name("deployFile")?),
            false => None,
        },
    };
    if complete && params.reads_artifact() {
        params.check_container_name()?;
    }
    Ok(params)
}

/// Keys that only one action uses, and the actions that take them.
const ONLY_WITH: [(&str, &[Action]); 20] = [
    ("taskDefinitionFile", &[Action::Deploy]),
    ("verifyImages", &[Action::Deploy]),
    ("keepRevisions", &[Action::Deploy]),
    ("containers", &[Action::Deploy]),
    ("cpu", &[Action::Deploy]),
    ("memory", &[Action::Deploy]),
    ("taskRoleArn", &[Action::Deploy]),
    ("executionRoleArn", &[Action::Deploy]),
    ("services", &[Action::Deploy]),
    ("atomic", &[Action::Deploy]),
    ("artifact", &[Action::Deploy]),
    ("fileName", &[Action::Deploy]),
    ("containerName", &[Action::Deploy]),
    ("forceNewDeployment", &[Action::Deploy]),
    ("dryRun", &[Action::Deploy]),
    ("deployFile", &[Action::Deploy]),
    ("serviceDeploymentArn", &[Action::Continue]),
    ("hookId", &[Action::Continue]),
    ("taskDefinition", &[Action::Deploy, Action::Rollback]),
    ("onTimeout", &[Action::Deploy, Action::Continue, Action::Rollback]),
];

impl Params {
    /// The services this release goes to: `services`, or the one `service`.
    pub fn targets(&self) -> Vec<ServiceTarget> {
        if self.services.is_empty() {
            return vec![ServiceTarget { cluster: self.cluster.clone(), service: self.service.clone() }];
        }
        self.services.clone()
    }

    /// Whether this job reads the build's image file: a deploy that is not a promotion.
    pub fn reads_artifact(&self) -> bool {
        self.action == Action::Deploy && self.task_definition.is_none()
    }

    /// `containerName` goes with `imageDetail.json` (which names no container) and only with it.
    fn check_container_name(&self) -> Result<(), ParamsError> {
        let base = self.file_name.rsplit('/').next().unwrap_or(&self.file_name);
        let detail = base.eq_ignore_ascii_case(IMAGE_DETAIL_FILE_NAME);
        let definitions = base.eq_ignore_ascii_case(DEFAULT_FILE_NAME);
        match (&self.container_name, detail, definitions) {
            (None, true, _) => Err(ParamsError::MissingKey {
                key: "containerName",
                meaning: "imageDetail.json names no container, so say which container gets its image",
            }),
            (Some(_), _, true) => Err(ParamsError::Invalid {
                key: "containerName",
                problem:
                    "is only used with an imageDetail.json file; imagedefinitions.json names its containers itself"
                        .into(),
            }),
            _ => Ok(()),
        }
    }
}

struct Fields<'a>(&'a Map<String, Value>);

impl Fields<'_> {
    fn action(&self) -> Result<Action, ParamsError> {
        match self.string("action")? {
            None | Some("deploy") => Ok(Action::Deploy),
            Some("continue") => Ok(Action::Continue),
            Some("rollback") => Ok(Action::Rollback),
            Some(other) => Err(invalid(
                "action",
                format!("must be \"deploy\" (the default), \"continue\" or \"rollback\", not {:?}", clip(other, 64)),
            )),
        }
    }

    /// Refuses keys the action does not use, and a promotion that also names an image source.
    fn only_with(&self, action: Action) -> Result<(), ParamsError> {
        for (key, actions) in ONLY_WITH {
            if self.0.contains_key(key) && !actions.contains(&action) {
                let takers: Vec<&str> = actions.iter().map(|a| a.name()).collect();
                return Err(invalid(
                    key,
                    format!("is not used with action \"{}\" (only with {})", action.name(), takers.join(", ")),
                ));
            }
        }
        let image_source = [
            "fileName",
            "containerName",
            "artifact",
            "deployFile",
            "dryRun",
            "verifyImages",
            "containers",
            "cpu",
            "memory",
            "taskRoleArn",
            "executionRoleArn",
        ]
        .into_iter()
        .find(|k| self.0.contains_key(*k));
        if let (Action::Deploy, true, Some(key)) = (action, self.0.contains_key("taskDefinition"), image_source) {
            return Err(invalid(
                key,
                "cannot be set with \"taskDefinition\": a promotion deploys that existing revision as it is and \
                 reads no image file (one source of truth for what is deployed); remove one of them"
                    .to_owned(),
            ));
        }
        Ok(())
    }

    /// `services`: 1 to 10 service names/ARNs or `{"cluster": …, "service": …}` objects, without `service`.
    /// An entry without a cluster gets the top-level `cluster` (filled in by the caller; empty here).
    fn services(&self) -> Result<Vec<ServiceTarget>, ParamsError> {
        const KEY: &str = "services";
        let Some(value) = self.0.get(KEY) else {
            if self.0.contains_key("atomic") {
                return Err(invalid("atomic", "is for a release to several services (\"services\")"));
            }
            return Ok(Vec::new());
        };
        if self.0.contains_key("service") {
            return Err(invalid(KEY, "cannot be set with \"service\"; list every service in \"services\""));
        }
        if self.0.contains_key("taskDefinition") {
            return Err(invalid(
                KEY,
                "cannot be set with \"taskDefinition\": a promotion deploys one revision to one service",
            ));
        }
        if let Some(key) = ["cpu", "memory", "taskRoleArn", "executionRoleArn", "keepRevisions", "taskDefinitionFile"]
            .into_iter()
            .find(|k| self.0.contains_key(*k))
        {
            return Err(invalid(
                KEY,
                format!(
                    "cannot be set with \"{key}\" yet: a task's size, roles, revision clean-up and task definition file \
                     go to one service per action (\"containers\" overrides apply by container name to every service)"
                ),
            ));
        }
        if self.0.get("wait").and_then(Value::as_str) == Some("paused") {
            return Err(invalid(
                KEY,
                "cannot be set with \"wait\": \"paused\" (a pause is one service's; deploy it alone)",
            ));
        }
        let Value::Array(entries) = value else {
            return Err(wrong_type(
                KEY,
                "an array of service names or {\"cluster\": …, \"service\": …} objects",
                value,
            ));
        };
        if entries.is_empty() || entries.len() > MAX_SERVICES {
            return Err(invalid(KEY, format!("must list 1 to {MAX_SERVICES} services, not {}", entries.len())));
        }
        let mut targets: Vec<ServiceTarget> = Vec::new();
        for (i, entry) in entries.iter().enumerate() {
            let name = |v: Option<&Value>, what: &str| -> Result<Option<String>, ParamsError> {
                match v {
                    None => Ok(None),
                    Some(Value::String(s)) if !s.is_empty() && s.trim() == s && s.len() <= 1600 => Ok(Some(s.clone())),
                    Some(other) => Err(invalid(
                        KEY,
                        format!("entry {i}: {what} must be a non-empty name or ARN, not {}", json_kind(other)),
                    )),
                }
            };
            let target = match entry {
                Value::String(_) => {
                    let service = name(Some(entry), "the service")?.unwrap_or_default();
                    // A service ARN of the long format names its cluster: …:service/<cluster>/<service>.
                    let cluster = service
                        .split_once(":service/")
                        .and_then(|(_, path)| path.split_once('/'))
                        .map(|(cluster, _)| cluster.to_owned())
                        .unwrap_or_default();
                    ServiceTarget { cluster, service }
                }
                Value::Object(o) => {
                    if let Some(extra) = o.keys().find(|k| !matches!(k.as_str(), "cluster" | "service")) {
                        return Err(invalid(
                            KEY,
                            format!(
                                "entry {i} has an unknown key {:?}; an entry has \"cluster\" and \"service\"",
                                clip(extra, 64)
                            ),
                        ));
                    }
                    let service = name(o.get("service"), "\"service\"")?
                        .ok_or_else(|| invalid(KEY, format!("entry {i} has no \"service\"")))?;
                    ServiceTarget { cluster: name(o.get("cluster"), "\"cluster\"")?.unwrap_or_default(), service }
                }
                other => {
                    return Err(invalid(
                        KEY,
                        format!("entry {i} must be a service name or an object, not {}", json_kind(other)),
                    ));
                }
            };
            let cluster =
                if target.cluster.is_empty() { self.string("cluster")?.unwrap_or_default() } else { &target.cluster };
            if targets.iter().any(|t| {
                let c = if t.cluster.is_empty() {
                    self.string("cluster").ok().flatten().unwrap_or_default()
                } else {
                    &t.cluster
                };
                t.service == target.service && c == cluster
            }) {
                return Err(invalid(KEY, format!("lists {} twice", clip(&target.service, 100))));
            }
            targets.push(target);
        }
        Ok(targets)
    }

    fn wait(&self, action: Action) -> Result<Wait, ParamsError> {
        match self.0.get("wait") {
            None | Some(Value::Bool(true)) => Ok(Wait::Yes),
            Some(Value::Bool(false)) => Ok(Wait::No),
            Some(Value::String(s)) if s == "paused" && action != Action::Rollback => Ok(Wait::Paused),
            Some(Value::String(s)) if s == "paused" => {
                Err(invalid("wait", "\"paused\" is for actions deploy and continue; a rollback is followed to its end"))
            }
            Some(other) => Err(wrong_type("wait", "true, false or \"paused\"", other)),
        }
    }

    fn string(&self, key: &'static str) -> Result<Option<&str>, ParamsError> {
        match self.0.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(wrong_type(key, "a string", other)),
        }
    }

    /// A non-empty identifier without surrounding whitespace (names, ARNs).
    fn optional_name(&self, key: &'static str) -> Result<Option<String>, ParamsError> {
        let Some(s) = self.string(key)? else {
            return Ok(None);
        };
        if s.is_empty() {
            return Err(invalid(key, "must not be empty"));
        }
        if s.trim() != s || s.chars().any(char::is_control) {
            return Err(invalid(key, format!("has whitespace or control characters: {:?}", clip(s, 64))));
        }
        if s.len() > 1600 {
            return Err(invalid(key, format!("is {} characters long; names and ARNs are far shorter", s.len())));
        }
        Ok(Some(s.to_owned()))
    }

    /// A relative path inside the artifact (`fileName`, default the image definitions; `deployFile`).
    fn file_name(&self, key: &'static str) -> Result<String, ParamsError> {
        let Some(name) = self.optional_name(key)? else {
            return Ok(DEFAULT_FILE_NAME.to_owned());
        };
        if name.starts_with('/')
            || name.contains('\\')
            || name.split('/').any(|c| c.is_empty() || c == "." || c == "..")
        {
            return Err(invalid(
                key,
                format!("must be a relative path inside the artifact such as \"{DEFAULT_FILE_NAME}\", not {name:?}"),
            ));
        }
        Ok(name)
    }

    fn bool(&self, key: &'static str, default: bool) -> Result<bool, ParamsError> {
        match self.0.get(key) {
            None => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(other) => Err(wrong_type(key, "true or false", other)),
        }
    }

    fn on_timeout(&self) -> Result<OnTimeout, ParamsError> {
        match self.string("onTimeout")? {
            None | Some("rollback") => Ok(OnTimeout::Rollback),
            Some("leave") => Ok(OnTimeout::Leave),
            Some(other) => Err(invalid(
                "onTimeout",
                format!("must be \"rollback\" (the default) or \"leave\", not {:?}", clip(other, 64)),
            )),
        }
    }

    fn keep_revisions(&self) -> Result<Option<u32>, ParamsError> {
        const KEY: &str = "keepRevisions";
        let Some(value) = self.0.get(KEY) else {
            return Ok(None);
        };
        match value.as_u64() {
            Some(n @ 1..=100) => Ok(Some(n as u32)),
            Some(n) => Err(invalid(KEY, format!("must be from 1 to 100 revisions, not {n}"))),
            None => Err(wrong_type(KEY, "a whole number of revisions from 1 to 100", value)),
        }
    }

    fn timeout_minutes(&self) -> Result<Option<u32>, ParamsError> {
        const KEY: &str = "timeoutMinutes";
        let Some(value) = self.0.get(KEY) else {
            return Ok(None);
        };
        let Some(n) =
            value.as_u64().or_else(|| value.as_f64().filter(|f| f.fract() == 0.0 && *f >= 0.0).map(|f| f as u64))
        else {
            return Err(wrong_type(KEY, "a whole number of minutes from 1 to 1440", value));
        };
        match u32::try_from(n) {
            Ok(n @ 1..=MAX_TIMEOUT_MINUTES) => Ok(Some(n)),
            _ => Err(invalid(KEY, format!("must be from 1 to {MAX_TIMEOUT_MINUTES} minutes, not {n}"))),
        }
    }
}

fn wrong_type(key: &'static str, expected: &'static str, found: &Value) -> ParamsError {
    let found = match found {
        Value::String(s) => format!("the string {:?}", clip(s, 64)),
        Value::Number(n) => format!("the number {n}"),
        Value::Bool(b) => format!("{b}"),
        other => json_kind(other).to_owned(),
    };
    ParamsError::WrongType { key, expected, found }
}

fn invalid(key: &'static str, problem: impl Into<String>) -> ParamsError {
    ParamsError::Invalid { key, problem: problem.into() }
}

/// "a string", "null"…: what a JSON value is, for messages.
pub(crate) fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// `", did you mean \"cluster\"?"` for a near miss, empty when nothing is near.
fn suggestion(key: &str) -> String {
    if let Some((_, ours)) = BUILT_IN_ACTION_KEYS.iter().find(|(theirs, _)| *theirs == key) {
        return format!(" (the built-in ECS action's name), use \"{ours}\"");
    }
    let lower = key.to_ascii_lowercase();
    KEYS.iter()
        .map(|k| (edit_distance(&lower, &k.to_ascii_lowercase()), *k))
        .filter(|(d, k)| *d <= 3.min(k.len() / 2))
        .min()
        .map(|(_, k)| format!(", did you mean \"{k}\"?"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readme_lists_every_key_in_order() {
        let readme = include_str!("../../README.md");
        let table = &readme[readme.find("| key | meaning").unwrap()..];
        let table = &table[..table.find("\n\n").unwrap()];
        let listed: Vec<&str> = table
            .lines()
            .skip(2)
            .filter_map(|row| row.strip_prefix("| ")?.split(" |").next())
            .flat_map(|cell| cell.split(", "))
            .map(|key| key.trim_matches('`'))
            .collect();
        assert_eq!(listed, KEYS);
    }

    fn ok(raw: &str) -> Params {
        parse(Some(raw)).unwrap_or_else(|e| panic!("{raw}: {e}"))
    }

    fn err(raw: &str) -> String {
        parse(Some(raw)).expect_err(raw).to_string()
    }

    #[test]
    fn defaults() {
        let p = ok(r#"{"cluster":"prod","service":"web"}"#);
        assert_eq!(
            p,
            Params {
                action: Action::Deploy,
                cluster: "prod".into(),
                task_definition: None,
                service_deployment_arn: None,
                hook_id: None,
                service: "web".into(),
                artifact: None,
                file_name: DEFAULT_FILE_NAME.into(),
                container_name: None,
                wait: Wait::Yes,
                timeout_minutes: None,
                on_timeout: OnTimeout::Rollback,
                force_new_deployment: false,
                overrides: Overrides::default(),
                keep_revisions: None,
                task_definition_file: None,
                verify_images: true,
                dry_run: false,
                deploy_file: None,
                services: Vec::new(),
                atomic: false,
            }
        );
    }

    #[test]
    fn every_key() {
        let p = ok(
            r#"{"cluster":"arn:aws:ecs:eu-west-1:111111111111:cluster/prod","service":"web","artifact":"BuildOutput",
            "fileName":"out/imageDetail.json","containerName":"app","wait":false,"timeoutMinutes":1440,"onTimeout":"leave","forceNewDeployment":true}"#,
        );
        assert_eq!(p.artifact.as_deref(), Some("BuildOutput"));
        assert_eq!(p.file_name, "out/imageDetail.json");
        assert_eq!(p.container_name.as_deref(), Some("app"));
        assert!(p.wait == Wait::No && p.force_new_deployment);
        assert_eq!(p.timeout_minutes, Some(1440));
        assert_eq!(p.on_timeout, OnTimeout::Leave);
    }

    #[test]
    fn rejections_name_the_key() {
        let cases: &[(&str, &str)] = &[
            ("", "UserParameters is missing"),
            ("   ", "UserParameters is missing"),
            ("prod/web", "not valid JSON"),
            (r#"["prod","web"]"#, "must be a JSON object, not an array"),
            (r#""prod""#, "not a string"),
            (r#"{"service":"web"}"#, "\"cluster\" is required"),
            (r#"{"cluster":"prod"}"#, "\"service\" is required"),
            (r#"{"cluster":"","service":"web"}"#, "\"cluster\" must not be empty"),
            (r#"{"cluster":" prod","service":"web"}"#, "\"cluster\" has whitespace"),
            (r#"{"cluster":7,"service":"web"}"#, "\"cluster\" must be a string, not the number 7"),
            (r#"{"cluster":null,"service":"web"}"#, "\"cluster\" must be a string, not null"),
            (
                r#"{"cluster":"p","service":"w","wait":"false"}"#,
                "\"wait\" must be true, false or \"paused\", not the string \"false\"",
            ),
            (r#"{"cluster":"p","service":"w","action":"undo"}"#, "\"action\" must be \"deploy\" (the default)"),
            (
                r#"{"cluster":"p","service":"w","action":"continue","fileName":"x.json"}"#,
                "\"fileName\" is not used with action \"continue\" (only with deploy)",
            ),
            (
                r#"{"cluster":"p","service":"w","hookId":"h"}"#,
                "\"hookId\" is not used with action \"deploy\" (only with continue)",
            ),
            (
                r#"{"cluster":"p","service":"w","action":"continue","taskDefinition":"web:3"}"#,
                "\"taskDefinition\" is not used with action \"continue\" (only with deploy, rollback)",
            ),
            (
                r#"{"cluster":"p","service":"w","taskDefinition":"web:3","fileName":"imagedefinitions.json"}"#,
                "\"fileName\" cannot be set with \"taskDefinition\": a promotion deploys that existing revision",
            ),
            (
                r#"{"cluster":"p","service":"w","action":"rollback","wait":"paused"}"#,
                "a rollback is followed to its end",
            ),
            (r#"{"cluster":"p","service":"w","forceNewDeployment":1}"#, "\"forceNewDeployment\" must be true or false"),
            (r#"{"cluster":"p","service":"w","timeoutMinutes":0}"#, "from 1 to 1440 minutes, not 0"),
            (r#"{"cluster":"p","service":"w","timeoutMinutes":1441}"#, "not 1441"),
            (r#"{"cluster":"p","service":"w","timeoutMinutes":-5}"#, "must be a whole number"),
            (r#"{"cluster":"p","service":"w","timeoutMinutes":2.5}"#, "must be a whole number"),
            (r#"{"cluster":"p","service":"w","timeoutMinutes":"30"}"#, "not the string \"30\""),
            (
                r#"{"cluster":"p","service":"w","onTimeout":"stop"}"#,
                "\"onTimeout\" must be \"rollback\" (the default) or \"leave\", not \"stop\"",
            ),
            (r#"{"cluster":"p","service":"w","onTimeout":false}"#, "\"onTimeout\" must be a string"),
            (r#"{"cluster":"p","service":"w","fileName":"../x.json"}"#, "\"fileName\" must be a relative path"),
            (r#"{"cluster":"p","service":"w","fileName":"/x.json"}"#, "must be a relative path"),
            (r#"{"cluster":"p","service":"w","fileName":"imageDetail.json"}"#, "\"containerName\" is required"),
            (
                r#"{"cluster":"p","service":"w","containerName":"app"}"#,
                "\"containerName\" is only used with an imageDetail.json",
            ),
            (r#"{"cluster":"p","service":"w","clustr":"x"}"#, "unknown key \"clustr\", did you mean \"cluster\"?"),
            (r#"{"cluster":"p","service":"w","filename":"x"}"#, "did you mean \"fileName\"?"),
            (r#"{"cluster":"p","service":"w","timeout":5}"#, "unknown key \"timeout\""),
            (r#"{"cluster":"p","service":"w","ClusterName":"x"}"#, "built-in ECS action's name), use \"cluster\""),
            (r#"{"cluster":"p","service":"w","DeploymentTimeout":5}"#, "use \"timeoutMinutes\""),
            (
                r#"{"cluster":"p","service":"w","zzzzzzzzzzz":1}"#,
                "unknown key \"zzzzzzzzzzz\"; valid keys are: action, cluster, service",
            ),
        ];
        for (raw, expected) in cases {
            let message = err(raw);
            assert!(message.contains(expected), "{raw}: {message:?} lacks {expected:?}");
        }
    }

    #[test]
    fn actions() {
        let p = ok(r#"{"action":"continue","cluster":"p","service":"w","wait":"paused","hookId":"h1"}"#);
        assert_eq!((p.action, p.wait, p.hook_id.as_deref()), (Action::Continue, Wait::Paused, Some("h1")));
        assert!(!p.reads_artifact());
        let p = ok(r#"{"action":"rollback","cluster":"p","service":"w","taskDefinition":"web:3"}"#);
        assert_eq!((p.action, p.task_definition.as_deref()), (Action::Rollback, Some("web:3")));
        let p = ok(r#"{"cluster":"p","service":"w","taskDefinition":"arn:aws:ecs:us-east-1:1:task-definition/web:3"}"#);
        assert!(p.action == Action::Deploy && !p.reads_artifact());
        // A promotion needs no containerName even though the default file name would want none either.
        assert!(ok(r#"{"cluster":"p","service":"w"}"#).reads_artifact());
    }

    #[test]
    fn hostile_sizes_are_clipped() {
        let key = "k".repeat(100_000);
        let message = err(&format!(r#"{{"cluster":"p","service":"w","{key}":1}}"#));
        // The key is clipped; the rest is the fixed list of valid keys.
        assert!(message.len() < 200 + KEYS.join(", ").len(), "{}", message.len());
        let long = "c".repeat(2000);
        assert!(err(&format!(r#"{{"cluster":"{long}","service":"w"}}"#)).contains("2000 characters"));
    }

    #[test]
    fn a_deploy_file_completes_user_parameters() {
        let user = r#"{"cluster":"prod","service":"web","deployFile":"deploy.json"}"#;
        let partial = ok(r#"{"deployFile":"release/deploy.json"}"#);
        assert_eq!((partial.cluster.as_str(), partial.deploy_file.as_deref()), ("", Some("release/deploy.json")));
        let merged =
            with_deploy_file(Some(user), "deploy.json", br#"{"wait":false,"dryRun":true,"timeoutMinutes":30}"#)
                .unwrap();
        assert_eq!((merged.wait, merged.dry_run, merged.timeout_minutes), (Wait::No, true, Some(30)));
        assert_eq!((merged.cluster.as_str(), merged.service.as_str()), ("prod", "web"));
        // The build may say where too, when the pipeline does not.
        let merged =
            with_deploy_file(Some(r#"{"deployFile":"d.json"}"#), "d.json", br#"{"cluster":"c","service":"s"}"#)
                .unwrap();
        assert_eq!((merged.cluster.as_str(), merged.service.as_str()), ("c", "s"));
    }

    #[test]
    fn deploy_file_refusals() {
        let user = r#"{"cluster":"prod","service":"web","deployFile":"deploy.json"}"#;
        for (file, expected) in [
            (&b"not json"[..], "the deploy file deploy.json is not valid JSON"),
            (b"[1]", "must hold a JSON object of UserParameters keys, not an array"),
            (br#"{"action":"rollback"}"#, "sets \"action\", which only UserParameters may set"),
            (br#"{"deployFile":"x.json"}"#, "sets \"deployFile\", which only UserParameters may set"),
            (br#"{"artifact":"Other"}"#, "sets \"artifact\", which only UserParameters may set"),
            (br#"{"cluster":"staging"}"#, "sets \"cluster\", which UserParameters sets too; set it in one place"),
            (br#"{"wiat":false}"#, "deploy.json)"),
            (
                br#"{"timeoutMinutes":0}"#,
                "\"timeoutMinutes\" must be from 1 to 1440 minutes, not 0 (the key is set in the deploy file",
            ),
            (br#"{"containerName":"app"}"#, "\"containerName\" is only used with an imageDetail.json file"),
        ] {
            let message = with_deploy_file(Some(user), "deploy.json", file).expect_err(expected).to_string();
            assert!(message.contains(expected), "{}: {message}", String::from_utf8_lossy(file));
        }
        let typo = with_deploy_file(Some(user), "deploy.json", br#"{"wiat":false}"#).unwrap_err().to_string();
        assert!(
            typo.contains("did you mean \"wait\"?")
                && typo.ends_with("(the key is set in the deploy file deploy.json)"),
            "{typo}"
        );
        // Still missing once merged: the message is about the merged whole.
        let message =
            with_deploy_file(Some(r#"{"deployFile":"d.json"}"#), "d.json", br#"{"cluster":"c"}"#).unwrap_err();
        assert!(message.to_string().contains("\"service\" is required"), "{message}");
        assert!(err(r#"{"cluster":"c","service":"s","deployFile":"../x.json"}"#).contains("relative path"));
        assert!(err(r#"{"action":"rollback","cluster":"c","service":"s","dryRun":true}"#).contains("only with deploy"));
        assert!(err(r#"{"cluster":"c","service":"s","taskDefinition":"web:3","dryRun":true}"#).contains("a promotion"));
    }

    #[test]
    fn verify_images_is_on_unless_turned_off_and_only_for_a_release_from_the_artifact() {
        assert!(parse(Some(r#"{"cluster":"c","service":"s"}"#)).unwrap().verify_images);
        assert!(!parse(Some(r#"{"cluster":"c","service":"s","verifyImages":false}"#)).unwrap().verify_images);
        let with_deploy_file = with_deploy_file(
            Some(r#"{"cluster":"c","service":"s","deployFile":"d.json"}"#),
            "d.json",
            br#"{"verifyImages":false}"#,
        );
        assert!(!with_deploy_file.unwrap().verify_images);
        assert!(
            err(r#"{"cluster":"c","service":"s","verifyImages":"no"}"#)
                .contains("\"verifyImages\" must be true or false")
        );
        assert!(err(r#"{"cluster":"c","service":"s","verifyImage":false}"#).contains("did you mean \"verifyImages\"?"));
        assert!(
            err(r#"{"cluster":"c","service":"s","taskDefinition":"web:3","verifyImages":false}"#)
                .contains("a promotion")
        );
        assert!(
            err(r#"{"action":"rollback","cluster":"c","service":"s","verifyImages":true}"#)
                .contains("only with deploy")
        );
    }

    #[test]
    fn services_resolve_to_targets() {
        let p = ok(
            r#"{"cluster":"prod","services":["web","arn:aws:ecs:us-east-1:1:service/batch/jobs",{"cluster":"edge","service":"proxy"},{"service":"worker"}],"atomic":true}"#,
        );
        let got: Vec<(&str, &str)> = p.services.iter().map(|t| (t.cluster.as_str(), t.service.as_str())).collect();
        assert_eq!(
            got,
            [
                ("prod", "web"),
                ("batch", "arn:aws:ecs:us-east-1:1:service/batch/jobs"),
                ("edge", "proxy"),
                ("prod", "worker")
            ]
        );
        assert!(p.atomic && p.service.is_empty());
        assert_eq!(p.targets().len(), 4);
        // Every entry names its cluster: no top-level cluster needed.
        assert!(ok(r#"{"services":[{"cluster":"a","service":"x"}]}"#).cluster.is_empty());
        let one = ok(r#"{"cluster":"prod","service":"web"}"#);
        assert_eq!(one.targets(), [ServiceTarget { cluster: "prod".into(), service: "web".into() }]);
    }

    #[test]
    fn services_refusals() {
        let eleven: Vec<String> = (0..11).map(|i| format!("\"s{i}\"")).collect();
        for (raw, expected) in [
            (r#"{"cluster":"p","service":"w","services":["x"]}"#.to_owned(), "cannot be set with \"service\""),
            (r#"{"cluster":"p","services":[]}"#.to_owned(), "must list 1 to 10 services, not 0"),
            (format!(r#"{{"cluster":"p","services":[{}]}}"#, eleven.join(",")), "must list 1 to 10 services, not 11"),
            (r#"{"cluster":"p","services":"web"}"#.to_owned(), "must be an array of service names"),
            (r#"{"cluster":"p","services":["web",{"cluster":"p","service":"web"}]}"#.to_owned(), "lists web twice"),
            (r#"{"cluster":"p","services":[{"srvice":"web"}]}"#.to_owned(), "entry 0 has an unknown key \"srvice\""),
            (r#"{"cluster":"p","services":[3]}"#.to_owned(), "entry 0 must be a service name or an object"),
            (r#"{"services":["web"]}"#.to_owned(), "\"cluster\" is required"),
            (
                r#"{"cluster":"p","service":"w","atomic":true}"#.to_owned(),
                "\"atomic\" is for a release to several services",
            ),
            (r#"{"action":"rollback","cluster":"p","services":["w"]}"#.to_owned(), "only with deploy"),
            (
                r#"{"cluster":"p","services":["w"],"taskDefinition":"w:3"}"#.to_owned(),
                "a promotion deploys one revision",
            ),
            (r#"{"cluster":"p","services":["w"],"wait":"paused"}"#.to_owned(), "a pause is one service's"),
            (r#"{"cluster":"p","services":["w"],"cpu":"256"}"#.to_owned(), "cannot be set with \"cpu\" yet"),
            (
                r#"{"cluster":"p","services":["w"],"keepRevisions":3}"#.to_owned(),
                "cannot be set with \"keepRevisions\" yet",
            ),
        ] {
            let message = err(&raw);
            assert!(message.contains(expected), "{raw}: {message}");
        }
        // Container overrides go by container name to every service that has the container.
        let p = parse(Some(r#"{"cluster":"p","services":["a","b"],"containers":{"web":{"environment":{"K":"v"}}}}"#));
        assert_eq!(p.unwrap().overrides.containers.len(), 1);
        let user = r#"{"cluster":"p","services":["a","b"],"deployFile":"d.json"}"#;
        let refused = with_deploy_file(Some(user), "d.json", br#"{"services":["c"]}"#).unwrap_err().to_string();
        assert!(refused.contains("sets \"services\", which only UserParameters may set"), "{refused}");
        let user = r#"{"services":[{"cluster":"p","service":"a"}],"deployFile":"d.json"}"#;
        let refused = with_deploy_file(Some(user), "d.json", br#"{"cluster":"q"}"#).unwrap_err().to_string();
        assert!(refused.contains("the services' cluster belongs beside them"), "{refused}");
    }
}
