//! `UserParameters` (and the deploy file): the action's configuration, a JSON object, turned into what the
//! engine runs — the action, its targets (one `service` is a list of one) and its policy. The public contract;
//! README documents it, and [`keys`] holds the one table of which key goes with which action and where.
//!
//! Validation only: every problem names the key, suggests the nearest valid key for a typo, and says what
//! a valid value looks like.

pub mod access;
pub mod before_deploy;
pub mod keys;
pub mod overrides;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use access::Access;
use before_deploy::{BeforeDeploy, Schedules};
pub use keys::{Action, KEYS};
use keys::{RELEASE_KEYS, rule_of};
use overrides::{OverrideError, Overrides};

use crate::text::{clip, edit_distance, json_kind};

/// The file name used when `fileName` is not given.
pub const DEFAULT_FILE_NAME: &str = "imagedefinitions.json";
/// The name CodePipeline's ECR source action and CodeDeploy blue/green use for a single-image file.
pub const IMAGE_DETAIL_FILE_NAME: &str = "imageDetail.json";
/// Default and bounds of `timeoutMinutes` (CodePipeline fails any action after 24 hours).
pub const DEFAULT_TIMEOUT_MINUTES: u32 = 60;
pub const MAX_TIMEOUT_MINUTES: u32 = 1440;
/// At most this many services in `services` (the continuation token must hold them all).
pub const MAX_SERVICES: usize = 10;

const EXAMPLE: &str = r#"{"cluster": "prod", "service": "web"}"#;

/// Keys of CodePipeline's built-in "Amazon ECS" action, which people migrating from it will type.
const BUILT_IN_ACTION_KEYS: [(&str, &str); 4] = [
    ("ClusterName", "cluster"),
    ("ServiceName", "service"),
    ("FileName", "fileName"),
    ("DeploymentTimeout", "timeoutMinutes"),
];

/// How far to follow the deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    No,
    /// Until it succeeds or fails.
    Yes,
    /// Until it succeeds, fails, or waits at a pause hook.
    Paused,
}

/// What happens to a deployment still going when the timeout runs out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnTimeout {
    #[default]
    Rollback,
    Leave,
}

/// One service an action goes to, with what that service alone gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub cluster: String,
    pub service: String,
    /// A task definition in the artifact to register for this service (instead of building on what it runs).
    pub task_definition_file: Option<String>,
    /// The overrides this service's new revision gets: the top-level ones, with the entry's own over them.
    pub overrides: Overrides,
    /// Containers the entry itself overrides: each must be one of this service's.
    pub own_containers: Vec<String>,
    /// Its account (by the role assumed there) and region; the default: the function's own.
    pub access: Access,
}

impl Target {
    /// `cluster`/`service`, as CodePipeline users read them.
    pub fn named(cluster: &str, service: &str) -> Self {
        Self {
            cluster: cluster.to_owned(),
            service: service.to_owned(),
            task_definition_file: None,
            overrides: Overrides::default(),
            own_containers: Vec::new(),
            access: Access::default(),
        }
    }

    /// "service web in cluster prod", with the account and region when not the function's own.
    pub fn describe(&self) -> String {
        match self.access.describe() {
            Some(place) => format!("service {} in cluster {} ({place})", self.service, self.cluster),
            None => format!("service {} in cluster {}", self.service, self.cluster),
        }
    }
}

/// Validated `UserParameters` (with the deploy file merged in, once read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Params {
    pub action: Action,
    /// The services this action goes to, in order: `services`, or the one `service`.
    pub targets: Vec<Target>,
    /// One `service` named at the top level (not `services`): the output variables keep their single names only.
    pub single: bool,
    /// With several services: when one fails, roll the others back.
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
    /// `None`: the default of the move (rollback for a release, leave for a revert).
    pub on_timeout: Option<OnTimeout>,
    pub force_new_deployment: bool,
    /// Top-level changes beyond the image (each target's own are in [`Target::overrides`]).
    pub overrides: Overrides,
    /// A task definition in the artifact to register (top level: for every target without its own).
    pub task_definition_file: Option<String>,
    /// After a final success, deregister the family's ACTIVE revisions beyond the newest N (1–100).
    pub keep_revisions: Option<u32>,
    /// Look every ECR image up (ECR DescribeImages) before registering anything (default on).
    pub verify_images: bool,
    /// Read, describe, plan and validate, then report the plan; change nothing.
    pub dry_run: bool,
    /// A JSON file in the input artifact holding more of these keys (merged by [`with_deploy_file`]).
    pub deploy_file: Option<String>,
    /// The deploy file named the targets: a continuation job cannot read them from UserParameters.
    pub targets_from_file: bool,
    /// A task run on the new revision before any service moves (deploy).
    pub before_deploy: Option<BeforeDeploy>,
    /// Scheduled tasks moved with the services, after they all succeeded.
    pub schedules: Schedules,
    /// The deploy file named the schedules: a continuation job cannot read them from UserParameters.
    pub schedules_from_file: bool,
    /// Every target's default account and region (`roleArn`, `externalId`, `region` at the top level).
    pub access: Access,
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
    #[error("UserParameters key \"services\" entry {index} ({service}): {source}")]
    Entry { index: usize, service: String, source: Box<ParamsError> },
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
            Self::Entry { .. } => Some("services"),
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
    validate(&map, complete, false)
}

/// The parameters once the deploy file `file` (its bytes `content`) is merged into `UserParameters`: any key the
/// key rules allow there, and none that `UserParameters` sets too ("set it in one place").
pub fn with_deploy_file(raw: Option<&str>, file: &str, content: &[u8]) -> Result<Params, ParamsError> {
    let mut map = object(raw)?;
    let problem = |problem: String| ParamsError::DeployFile { file: clip(file, 200), problem };
    let value: Value = serde_json::from_slice(content).map_err(|e| problem(format!("is not valid JSON ({e})")))?;
    let Value::Object(extra) = value else {
        return Err(problem(format!("must hold a JSON object of UserParameters keys, not {}", json_kind(&value))));
    };
    let mut targets_from_file = false;
    let mut schedules_from_file = false;
    for (key, value) in extra {
        let Some(rule) = rule_of(&key) else {
            let error = ParamsError::UnknownKey { key: clip(&key, 64), hint: suggestion(&key) };
            return Err(ParamsError::InDeployFile { file: clip(file, 200), source: Box::new(error) });
        };
        if let Err(why) = rule.deploy_file {
            return Err(problem(format!("sets \"{key}\", which only UserParameters may set: {why}")));
        }
        if key == "cluster" && map.contains_key("services") {
            return Err(problem(
                "sets \"cluster\" while UserParameters sets \"services\": the services' cluster belongs beside them \
                 in UserParameters"
                    .into(),
            ));
        }
        if key == "services"
            && let Some(entry) = value
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_object)
                .find(|e| access::KEYS.iter().any(|k| e.contains_key(*k)))
        {
            let key = access::KEYS.iter().find(|k| entry.contains_key(**k)).copied().unwrap_or("roleArn");
            return Err(problem(format!(
                "sets \"{key}\" in a \"services\" entry, which only UserParameters may set: the pipeline says where \
                 a release goes (the account, by its role, and the region), never the build"
            )));
        }
        if map.contains_key(&key) {
            return Err(problem(format!(
                "sets \"{key}\", which UserParameters sets too; set it in one place (the pipeline says where: \
                 cluster and services; the build says what: files and options)"
            )));
        }
        targets_from_file |= matches!(key.as_str(), "cluster" | "service" | "services");
        schedules_from_file |= matches!(key.as_str(), "schedules" | "rules" | "scheduleGroup" | "eventBus");
        map.insert(key, value);
    }
    let from_file = |key: &str| !object(raw).is_ok_and(|user| user.contains_key(key));
    let mut params = validate(&map, true, targets_from_file).map_err(|e| match e.key() {
        Some(key) if from_file(key) => ParamsError::InDeployFile { file: clip(file, 200), source: Box::new(e) },
        _ => e,
    })?;
    params.schedules_from_file = schedules_from_file;
    Ok(params)
}

fn object(raw: Option<&str>) -> Result<Map<String, Value>, ParamsError> {
    let raw = raw.map(str::trim).filter(|s| !s.is_empty()).ok_or(ParamsError::Missing)?;
    let value: Value = serde_json::from_str(raw).map_err(|e| ParamsError::NotJson(e.to_string()))?;
    match value {
        Value::Object(map) => Ok(map),
        other => Err(ParamsError::NotObject(json_kind(&other))),
    }
}

fn validate(map: &Map<String, Value>, complete: bool, targets_from_file: bool) -> Result<Params, ParamsError> {
    if let Some(key) = map.keys().find(|k| rule_of(k).is_none()) {
        return Err(ParamsError::UnknownKey { key: clip(key, 64), hint: suggestion(key) });
    }
    let fields = Fields(map);
    let action = fields.action()?;
    fields.only_with(action)?;
    let overrides = Overrides::parse(map)?;
    let task_definition_file = fields.optional_file("taskDefinitionFile")?;
    let access = Access::parse(map, &Access::default())?;
    let targets = fields.targets(complete, &overrides, &task_definition_file, &access)?;
    let params = Params {
        action,
        single: !map.contains_key("services"),
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
        overrides,
        keep_revisions: fields.keep_revisions()?,
        task_definition_file,
        verify_images: fields.bool("verifyImages", true)?,
        dry_run: fields.bool("dryRun", false)?,
        deploy_file: fields.optional_file("deployFile")?,
        targets,
        targets_from_file,
        before_deploy: before_deploy::parse_before_deploy(map)?,
        schedules: before_deploy::parse_schedules(map)?,
        schedules_from_file: false,
        access,
    };
    if !params.schedules.is_empty() && params.wait == Wait::No {
        let key = if params.schedules.schedules.is_empty() { "rules" } else { "schedules" };
        return Err(invalid(
            key,
            "move once every service succeeded, and with \"wait\": false the action ends before that; follow the \
             deployment (leave \"wait\" out), or move them in a later action",
        ));
    }
    if params.service_deployment_arn.is_some() && params.targets.len() > 1 {
        return Err(invalid(
            "serviceDeploymentArn",
            "names one service's deployment; with several services, each service's current deployment is continued \
             (leave serviceDeploymentArn out)",
        ));
    }
    if complete && params.reads_artifact() {
        params.check_container_name()?;
    }
    Ok(params)
}

impl Params {
    /// Whether this job reads the build's artifact: a deploy that is not a promotion.
    pub fn reads_artifact(&self) -> bool {
        self.action == Action::Deploy && self.task_definition.is_none()
    }

    /// Whether any target gets a task definition from the artifact.
    pub fn task_definition_files(&self) -> Vec<&str> {
        let mut files: Vec<&str> = self.targets.iter().filter_map(|t| t.task_definition_file.as_deref()).collect();
        files.sort_unstable();
        files.dedup();
        files
    }

    /// What happens at the timeout: as asked, else rollback for a release and leave for a revert.
    pub fn on_timeout_for(&self, reverting: bool) -> OnTimeout {
        self.on_timeout.unwrap_or(if reverting { OnTimeout::Leave } else { OnTimeout::Rollback })
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

    /// Refuses keys the action does not use (the key rules), and a promotion that also names an image source.
    fn only_with(&self, action: Action) -> Result<(), ParamsError> {
        for key in self.0.keys() {
            let Some(rule) = rule_of(key) else { continue };
            if !rule.actions.contains(&action) {
                let takers: Vec<&str> = rule.actions.iter().map(|a| a.name()).collect();
                return Err(invalid(
                    rule.key,
                    format!("is not used with action \"{}\" (only with {})", action.name(), takers.join(", ")),
                ));
            }
        }
        let promotion = action == Action::Deploy && self.0.contains_key("taskDefinition");
        let entry_sets = |key: &str| {
            self.0
                .get("services")
                .and_then(Value::as_array)
                .is_some_and(|entries| entries.iter().any(|e| e.as_object().is_some_and(|o| o.contains_key(key))))
        };
        if let (true, Some(key)) =
            (promotion, RELEASE_KEYS.into_iter().find(|k| self.0.contains_key(*k) || entry_sets(k)))
        {
            return Err(invalid(
                rule_of(key).map(|r| r.key).unwrap_or("taskDefinition"),
                "cannot be set with \"taskDefinition\": a promotion deploys that existing revision as it is and \
                 reads no image file (one source of truth for what is deployed); remove one of them"
                    .to_owned(),
            ));
        }
        if self.0.contains_key("atomic") && !self.0.contains_key("services") {
            return Err(invalid("atomic", "is for a release to several services (\"services\")"));
        }
        if self.0.contains_key("services") && self.0.contains_key("service") {
            return Err(invalid("services", "cannot be set with \"service\"; list every service in \"services\""));
        }
        Ok(())
    }

    /// The targets: the one `service`, or the entries of `services` (1 to 10 service names/ARNs or objects with
    /// `cluster`, `service` and the keys one target alone may get). An entry without a cluster gets the
    /// top-level `cluster`. Incomplete parameters (a deploy file to come) may leave them empty.
    fn targets(
        &self,
        complete: bool,
        overrides: &Overrides,
        task_definition_file: &Option<String>,
        access: &Access,
    ) -> Result<Vec<Target>, ParamsError> {
        let with_defaults = |cluster: String, service: String| Target {
            cluster,
            service,
            task_definition_file: task_definition_file.clone(),
            overrides: overrides.clone(),
            own_containers: Vec::new(),
            access: access.clone(),
        };
        let top_cluster = self.optional_name("cluster")?;
        let Some(value) = self.0.get("services") else {
            let service = self.optional_name("service")?;
            let (cluster, service) = match (top_cluster, service) {
                (Some(c), Some(s)) => (c, s),
                (c, s) if !complete => (c.unwrap_or_default(), s.unwrap_or_default()),
                (None, _) => return Err(missing_cluster()),
                (_, None) => {
                    return Err(ParamsError::MissingKey {
                        key: "service",
                        meaning: "the ECS service name or ARN (or \"services\": a list of them)",
                    });
                }
            };
            return Ok(vec![with_defaults(cluster, service)]);
        };
        const KEY: &str = "services";
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
        let mut targets: Vec<Target> = Vec::new();
        for (i, entry) in entries.iter().enumerate() {
            let target = match entry {
                Value::String(_) => {
                    let service = entry_name(i, Some(entry), "the service")?.unwrap_or_default();
                    // A service ARN of the long format names its cluster: …:service/<cluster>/<service>.
                    let cluster = service
                        .split_once(":service/")
                        .and_then(|(_, path)| path.split_once('/'))
                        .map(|(cluster, _)| cluster.to_owned())
                        .or_else(|| top_cluster.clone())
                        .unwrap_or_default();
                    with_defaults(cluster, service)
                }
                Value::Object(o) => self.entry(i, o, &top_cluster, overrides, task_definition_file, access)?,
                other => {
                    return Err(invalid(
                        KEY,
                        format!("entry {i} must be a service name or an object, not {}", json_kind(other)),
                    ));
                }
            };
            if target.cluster.is_empty() {
                return Err(missing_cluster());
            }
            if targets.iter().any(|t| t.service == target.service && t.cluster == target.cluster) {
                return Err(invalid(KEY, format!("lists {} twice", clip(&target.service, 100))));
            }
            targets.push(target);
        }
        Ok(targets)
    }

    /// One `services` object: `cluster`, `service`, and what this target alone gets (the key rules' entry keys).
    fn entry(
        &self,
        i: usize,
        o: &Map<String, Value>,
        top_cluster: &Option<String>,
        overrides: &Overrides,
        task_definition_file: &Option<String>,
        access: &Access,
    ) -> Result<Target, ParamsError> {
        if let Some(extra) = o.keys().find(|k| !keys::entry_keys().any(|e| e == k.as_str())) {
            let allowed: Vec<&str> = keys::entry_keys().collect();
            return Err(invalid(
                "services",
                format!(
                    "entry {i} has an unknown key {:?}; an entry may have {}",
                    clip(extra, 64),
                    allowed.iter().map(|k| format!("\"{k}\"")).collect::<Vec<_>>().join(", ")
                ),
            ));
        }
        let service = entry_name(i, o.get("service"), "\"service\"")?
            .ok_or_else(|| invalid("services", format!("entry {i} has no \"service\"")))?;
        let cluster =
            entry_name(i, o.get("cluster"), "\"cluster\"")?.or_else(|| top_cluster.clone()).unwrap_or_default();
        let wrap = |e: ParamsError| ParamsError::Entry { index: i, service: clip(&service, 100), source: Box::new(e) };
        let own = Overrides::parse(o).map_err(|e| wrap(e.into()))?;
        let fields = Fields(o);
        let file = fields.optional_file("taskDefinitionFile").map_err(wrap)?;
        let access = Access::parse(o, access).map_err(wrap)?;
        Ok(Target {
            task_definition_file: file.or_else(|| task_definition_file.clone()),
            access,
            own_containers: own.containers.keys().cloned().collect(),
            overrides: overrides.with(&own),
            cluster,
            service,
        })
    }

    fn optional_file(&self, key: &'static str) -> Result<Option<String>, ParamsError> {
        match self.0.contains_key(key) {
            true => Ok(Some(self.file_name(key)?)),
            false => Ok(None),
        }
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

    fn on_timeout(&self) -> Result<Option<OnTimeout>, ParamsError> {
        match self.string("onTimeout")? {
            None => Ok(None),
            Some("rollback") => Ok(Some(OnTimeout::Rollback)),
            Some("leave") => Ok(Some(OnTimeout::Leave)),
            Some(other) => Err(invalid(
                "onTimeout",
                format!(
                    "must be \"rollback\" (the default for a release) or \"leave\" (the default for a rollback), not {:?}",
                    clip(other, 64)
                ),
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

fn missing_cluster() -> ParamsError {
    ParamsError::MissingKey { key: "cluster", meaning: "the ECS cluster name or ARN" }
}

/// A name in entry `i` of `services`: non-empty, no surrounding whitespace, at most 1600 characters.
fn entry_name(i: usize, value: Option<&Value>, what: &str) -> Result<Option<String>, ParamsError> {
    match value {
        None => Ok(None),
        Some(Value::String(s)) if !s.is_empty() && s.trim() == s && s.len() <= 1600 => Ok(Some(s.clone())),
        Some(other) => Err(invalid(
            "services",
            format!("entry {i}: {what} must be a non-empty name or ARN, not {}", json_kind(other)),
        )),
    }
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
                targets: vec![Target::named("prod", "web")],
                single: true,
                task_definition: None,
                service_deployment_arn: None,
                hook_id: None,
                artifact: None,
                file_name: DEFAULT_FILE_NAME.into(),
                container_name: None,
                wait: Wait::Yes,
                timeout_minutes: None,
                on_timeout: None,
                force_new_deployment: false,
                overrides: Overrides::default(),
                keep_revisions: None,
                task_definition_file: None,
                verify_images: true,
                dry_run: false,
                deploy_file: None,
                atomic: false,
                targets_from_file: false,
                before_deploy: None,
                schedules: Default::default(),
                schedules_from_file: false,
                access: Access::default(),
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
        assert_eq!(p.on_timeout, Some(OnTimeout::Leave));
        assert_eq!(
            (p.on_timeout_for(false), ok(r#"{"cluster":"c","service":"s"}"#).on_timeout_for(true)),
            (OnTimeout::Leave, OnTimeout::Leave)
        );
        assert_eq!(ok(r#"{"cluster":"c","service":"s"}"#).on_timeout_for(false), OnTimeout::Rollback);
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
                "\"onTimeout\" must be \"rollback\" (the default for a release) or \"leave\" (the default for a rollback), not \"stop\"",
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
        assert_eq!(
            (partial.targets[0].cluster.as_str(), partial.deploy_file.as_deref()),
            ("", Some("release/deploy.json"))
        );
        let merged =
            with_deploy_file(Some(user), "deploy.json", br#"{"wait":false,"dryRun":true,"timeoutMinutes":30}"#)
                .unwrap();
        assert_eq!((merged.wait, merged.dry_run, merged.timeout_minutes), (Wait::No, true, Some(30)));
        assert_eq!(merged.targets, [Target::named("prod", "web")]);
        assert!(!merged.targets_from_file);
        // The build may say where too, when the pipeline does not.
        let merged =
            with_deploy_file(Some(r#"{"deployFile":"d.json"}"#), "d.json", br#"{"cluster":"c","service":"s"}"#)
                .unwrap();
        assert_eq!(merged.targets, [Target::named("c", "s")]);
        assert!(merged.targets_from_file, "a continuation job cannot read them back from UserParameters");
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
        let got: Vec<(&str, &str)> = p.targets.iter().map(|t| (t.cluster.as_str(), t.service.as_str())).collect();
        assert_eq!(
            got,
            [
                ("prod", "web"),
                ("batch", "arn:aws:ecs:us-east-1:1:service/batch/jobs"),
                ("edge", "proxy"),
                ("prod", "worker")
            ]
        );
        assert!(p.atomic && !p.single);
        // Every entry names its cluster: no top-level cluster needed.
        assert_eq!(ok(r#"{"services":[{"cluster":"a","service":"x"}]}"#).targets, [Target::named("a", "x")]);
        let one = ok(r#"{"cluster":"prod","service":"web"}"#);
        assert_eq!((one.targets, one.single), (vec![Target::named("prod", "web")], true));
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
            (
                r#"{"cluster":"p","services":["a","b"],"serviceDeploymentArn":"arn:x","action":"continue"}"#.to_owned(),
                "names one service's deployment",
            ),
            (
                r#"{"cluster":"p","services":[{"service":"a","wait":false}]}"#.to_owned(),
                "entry 0 has an unknown key \"wait\"",
            ),
            (
                r#"{"cluster":"p","services":[{"service":"a","cpu":"lots"}]}"#.to_owned(),
                "\"services\" entry 0 (a): UserParameters key \"cpu\"",
            ),
            (
                r#"{"cluster":"p","services":["a"],"taskDefinition":"a:3","containers":{}}"#.to_owned(),
                "cannot be set with \"taskDefinition\"",
            ),
            (
                r#"{"cluster":"p","services":[{"service":"a","cpu":"256"}],"taskDefinition":"a:3"}"#.to_owned(),
                "\"cpu\" cannot be set with \"taskDefinition\"",
            ),
        ] {
            let message = err(&raw);
            assert!(message.contains(expected), "{raw}: {message}");
        }
        // Container overrides go by container name to every service that has the container.
        let p = parse(Some(r#"{"cluster":"p","services":["a","b"],"containers":{"web":{"environment":{"K":"v"}}}}"#));
        assert_eq!(p.unwrap().overrides.containers.len(), 1);
        // What used to be one service's only: every action, the task-level keys, revision clean-up, a pause.
        for raw in [
            r#"{"action":"rollback","cluster":"p","services":["w","x"]}"#,
            r#"{"action":"continue","cluster":"p","services":["w","x"],"wait":"paused"}"#,
            r#"{"cluster":"p","services":["w","x"],"taskDefinition":"w:3"}"#,
            r#"{"cluster":"p","services":["w"],"wait":"paused","cpu":"256","keepRevisions":3,"taskDefinitionFile":"td.json"}"#,
        ] {
            ok(raw);
        }
        let user = r#"{"cluster":"p","services":["a","b"],"deployFile":"d.json"}"#;
        let refused = with_deploy_file(Some(user), "d.json", br#"{"services":["c"]}"#).unwrap_err().to_string();
        assert!(refused.contains("sets \"services\", which UserParameters sets too"), "{refused}");
        // The deploy file may name the services: a continuation job gets them from the token.
        let merged =
            with_deploy_file(Some(r#"{"deployFile":"d.json"}"#), "d.json", br#"{"cluster":"p","services":["a","b"]}"#);
        let merged = merged.unwrap();
        assert_eq!((merged.targets.len(), merged.targets_from_file), (2, true));
        let user = r#"{"services":[{"cluster":"p","service":"a"}],"deployFile":"d.json"}"#;
        let refused = with_deploy_file(Some(user), "d.json", br#"{"cluster":"q"}"#).unwrap_err().to_string();
        assert!(refused.contains("the services' cluster belongs beside them"), "{refused}");
    }

    #[test]
    fn a_services_entry_gets_its_own_keys_over_the_top_level() {
        let p = ok(r#"{"cluster":"prod","cpu":"256","memory":"512","taskDefinitionFile":"td.json",
            "containers":{"app":{"environment":{"MODE":"shared"}},"envoy":{"command":["run"]}},
            "services":["web",{"service":"api","cpu":"1024","memory":"2048","taskDefinitionFile":"api.json",
                               "containers":{"app":{"environment":{"MODE":"api"}}},"taskRoleArn":"arn:aws:iam::111111111111:role/api"}]}"#);
        let (web, api) = (&p.targets[0], &p.targets[1]);
        assert_eq!((web.overrides.cpu.as_deref(), web.task_definition_file.as_deref()), (Some("256"), Some("td.json")));
        assert_eq!((api.overrides.cpu.as_deref(), api.overrides.memory.as_deref()), (Some("1024"), Some("2048")));
        assert_eq!(api.task_definition_file.as_deref(), Some("api.json"));
        assert_eq!(api.overrides.task_role_arn.as_deref(), Some("arn:aws:iam::111111111111:role/api"));
        assert_eq!(web.overrides.task_role_arn, None);
        // The entry's container replaces the top-level one of the same name; the others still apply.
        assert_eq!(api.overrides.containers["app"].environment["MODE"].as_deref(), Some("api"));
        assert_eq!(web.overrides.containers["app"].environment["MODE"].as_deref(), Some("shared"));
        assert!(api.overrides.containers.contains_key("envoy"));
        assert_eq!((web.own_containers.len(), api.own_containers.clone()), (0, vec!["app".to_owned()]));
        assert_eq!(p.task_definition_files(), ["api.json", "td.json"]);
    }
}
