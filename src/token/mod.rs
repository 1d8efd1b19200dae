//! The continuation token: what an action started and where each of its targets stands, carried from one job
//! to the next by CodePipeline (`continuationToken`, at most 2048 characters, handed back verbatim).
//!
//! v4 (this version writes it) is the [`Tracker`]: one slot per target, in the order of the targets. It holds
//! only what UserParameters cannot give back (every continuation job carries the same UserParameters): the
//! targets' names only when a deploy file named them. v1 to v3, written by earlier releases, are read by
//! [`legacy`] into a tracker, so that an action in flight during an upgrade is followed to its verdict.
//!
//! A token is input like any other: [`Tracker::check`] range-checks every field against the action's targets.

pub mod legacy;

use serde::{Deserialize, Serialize};

pub use crate::config::OnTimeout;
use crate::config::Target;
use crate::judge::deployment::{STAGES, Seen};
use crate::text::short_arn;

pub const VERSION: u32 = 4;
/// CodePipeline's limit for `continuationToken`.
pub const MAX_LEN: usize = 2048;
/// How much of a failure's cause the token keeps for the final report.
pub const CAUSE_CHARS: usize = 200;
/// The longest stage a slot keeps (a stage this version does not know).
pub const STAGE_CHARS: usize = 12;
/// The highest revision number a token may name (ECS allows 1,000,000 revisions per family).
pub const MAX_REVISION: u32 = 1_000_000;

/// What an action does, and so what success means for its targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// A release of the build's images: each target reaches its new revision.
    #[serde(rename = "r")]
    Release,
    /// A promotion of an existing revision.
    #[serde(rename = "p")]
    Promote,
    /// The rollback action: each target is back on the revision it reverted to.
    #[serde(rename = "b")]
    Rollback,
    /// The continue action: each continued deployment reaches its revision.
    #[serde(rename = "c")]
    Continue,
}

/// Where one target stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "u8", try_from = "u8")]
pub enum State {
    /// Its deployment towards `rev` is followed.
    Moving = 0,
    /// It reached `rev` (its deployment succeeded, judged).
    Done = 1,
    /// Its deployment was stopped without a rollback: it is (partly) on `rev`.
    Stopped = 2,
    /// Its deployment is being rolled back by ECS (StopServiceDeployment ROLLBACK, or ECS's own): towards `prev`.
    Undoing = 3,
    /// It is being updated back to `prev` (UpdateService); that deployment is followed.
    Reverting = 4,
    /// It is back on `prev`.
    Back = 5,
    /// Its rollback or revert failed.
    BackFailed = 6,
    /// Its deployment failed in a way that leaves nothing to follow (no longer known to ECS).
    Failed = 7,
    /// Announced (report first, then change): UpdateService to `rev` (0: the release's new revision, registered
    /// after the announcement), from `prev`.
    Applying = 8,
    /// Announced: StopServiceDeployment ROLLBACK of its deployment `id`.
    Stopping = 9,
    /// Announced: ContinueServiceDeployment of its deployment `id` at its waiting hook.
    Continuing = 10,
    /// Announced: UpdateService back to `prev`.
    Returning = 11,
    /// Waits for the beforeDeploy task: then UpdateService to `rev` (0: the release's new revision, registered
    /// after the announcement), from `prev`.
    Queued = 12,
}

impl State {
    /// Whether a deployment of it is still followed.
    pub fn moving(self) -> bool {
        matches!(self, Self::Moving | Self::Undoing | Self::Reverting)
    }

    /// Whether it is on its way back (or back) to `prev`.
    pub fn reverting(self) -> bool {
        matches!(self, Self::Undoing | Self::Reverting)
    }

    /// Whether a change to it was announced and the next job finds out how it went.
    pub fn pending(self) -> bool {
        matches!(self, Self::Applying | Self::Stopping | Self::Continuing | Self::Returning)
    }
}

impl From<State> for u8 {
    fn from(s: State) -> u8 {
        s as u8
    }
}

impl TryFrom<u8> for State {
    type Error = String;
    fn try_from(n: u8) -> Result<Self, String> {
        use State::*;
        [
            Moving, Done, Stopped, Undoing, Reverting, Back, BackFailed, Failed, Applying, Stopping, Continuing,
            Returning, Queued,
        ]
        .into_iter()
        .find(|s| *s as u8 == n)
        .ok_or_else(|| format!("unknown target state {n}"))
    }
}

/// One target: `[id, dep, rf, rev, pf, prev, state, stage, weight, since, pct]` (an array, to keep the token
/// short). `id` is the followed service deployment's last ARN segment (empty: none, or a service ECS reports
/// no service deployments for, followed by its `ecs-svc/<dep>` deployment); `dep` the digits of the
/// `ecs-svc/…` deployment id (0: unknown); `rf`/`pf` index the families of `rev` (where the target is going)
/// and `prev` (what it ran before the action; 0: unknown). A known lifecycle stage is kept as its index in
/// ECS's stage sequence; `since` counts seconds from the tracker's `started`; `weight` is in hundredths of a
/// percent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Slot(
    pub String,
    pub u64,
    pub usize,
    pub u32,
    pub usize,
    pub u32,
    pub State,
    pub String,
    pub i64,
    pub i64,
    pub i32,
);

impl Slot {
    /// A target whose deployment `id` towards `rf:rev` is followed from `since` (seconds from `started`).
    pub fn new(id: String, dep: u64, (rf, rev): (usize, u32), (pf, prev): (usize, u32), state: State) -> Self {
        Self(id, dep, rf, rev, pf, prev, state, String::new(), 0, 0, 0)
    }

    pub fn id(&self) -> &str {
        &self.0
    }

    pub fn state(&self) -> State {
        self.6
    }

    pub fn set(&mut self, state: State) {
        self.6 = state;
    }

    /// The `ecs-svc/…` deployment id, when known.
    pub fn deployment_id(&self) -> Option<String> {
        (self.1 != 0).then(|| format!("ecs-svc/{:019}", self.1))
    }

    pub fn percent(&self) -> i32 {
        self.10
    }

    /// Follows a new deployment (a revert): nothing seen of it yet.
    pub fn follow(&mut self, id: String, dep: u64, state: State, since: i64) {
        self.0 = id;
        self.1 = dep;
        self.6 = state;
        self.7.clear();
        self.8 = 0;
        self.9 = since;
        self.10 = 0;
    }

    pub fn seen(&self, started: i64) -> Seen {
        let stage = match self.7.parse::<usize>() {
            Ok(i) if i < STAGES.len() => STAGES[i].to_owned(),
            _ => self.7.clone(),
        };
        Seen { stage, weight: self.8 as f64 / 100.0, since: started + self.9, percent: self.10 }
    }

    pub fn remember(&mut self, seen: &Seen, started: i64) {
        self.7 = match STAGES.iter().position(|s| *s == seen.stage) {
            Some(i) => i.to_string(),
            None => seen.stage.chars().take(STAGE_CHARS).collect(),
        };
        self.8 = (seen.weight * 100.0).round() as i64;
        self.9 = seen.since - started;
        self.10 = seen.percent;
    }
}

/// Where the beforeDeploy task stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaskState {
    /// Announced (report first, then change): RunTask, with the revisions to register before it.
    #[serde(rename = "A")]
    Announced,
    /// Started: its tasks (`ids`) are followed.
    #[serde(rename = "R")]
    Running,
    /// It succeeded; the services moved on.
    #[serde(rename = "D")]
    Done,
}

/// The beforeDeploy task: what runs, where, until when, and which tasks are this action's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskRun {
    #[serde(rename = "s")]
    pub state: TaskState,
    /// Its cluster as written; empty: the first target's.
    #[serde(rename = "c", default, skip_serializing_if = "String::is_empty")]
    pub cluster: String,
    /// The tasks' ids (the last segment of their ARNs), once started.
    #[serde(rename = "i", default, skip_serializing_if = "Vec::is_empty")]
    pub ids: Vec<String>,
    /// The revision it runs: a family index, and its number (0: the release's new revision of that family, not
    /// registered yet when announced).
    #[serde(rename = "f")]
    pub fam: usize,
    #[serde(rename = "r")]
    pub rev: u32,
    /// The container whose exit code decides, and the other essential containers (which must exit 0 too).
    #[serde(rename = "n")]
    pub container: String,
    #[serde(rename = "e", default, skip_serializing_if = "Vec::is_empty")]
    pub essential: Vec<String>,
    /// How many tasks (RunTask's `count`), its timeout in minutes, and when it started (epoch seconds).
    #[serde(rename = "k")]
    pub count: u32,
    #[serde(rename = "m")]
    pub minutes: u32,
    #[serde(rename = "t")]
    pub started: i64,
}

impl TaskRun {
    pub fn deadline(&self) -> i64 {
        self.started + i64::from(self.minutes) * 60
    }
}

/// A scheduled task moved (announced, then seen): `[item, family, from, to]`, the item by its index among the
/// action's schedules then rules, the family by index, and the revision numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Moved(pub usize, pub usize, pub u32, pub u32);

/// The first failure of an action: the target, its cause, and the CodePipeline failure type it ends in
/// (`J` JobFailed, `P` PermissionError, `C` ConfigurationError, `S` SystemUnavailable).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure(pub usize, pub String, pub char);

/// v4: what an action started, for every later look.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tracker {
    pub v: u32,
    /// The job that started the action (its first job; empty for tokens of earlier releases).
    pub job: String,
    pub op: Op,
    /// `arn:<partition>:ecs:<region>:<account>`: with a target's names, its deployments' and revisions' ARNs.
    pub arn: String,
    /// Task definition families, by index from the slots; `@<i>`: the family named as target i's service.
    pub fams: Vec<String>,
    /// One per target, in the order of the targets.
    pub t: Vec<Slot>,
    /// The targets as written (`[cluster, service]`), only when UserParameters cannot give them back.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<(String, String)>,
    pub started: i64,
    pub deadline: i64,
    pub timeout: u32,
    #[serde(rename = "onTimeout")]
    pub on_timeout: OnTimeout,
    pub polls: u32,
    /// `wait: "paused"`: waiting at a pause hook is the action's success.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub paused: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub atomic: bool,
    /// `keepRevisions`, after the final success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<Failure>,
    /// Once targets are being rolled back (atomic, or a timeout): that phase's own deadline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub back: Option<i64>,
    /// `wait: false`: the action ends once its changes are seen made.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub nowait: bool,
    /// The deadline passed (the failure to report once the rollbacks it started are seen).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub expired: bool,
    /// How many jobs announced the pending changes (report first, then change): a second announcement that
    /// is never seen made ends the action.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub tries: u8,
    /// `keepRevisions`: the revisions announced for deregistering, by family index.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clean: Vec<(usize, Vec<u32>)>,
    /// `beforeDeploy`: the task run before the services move.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<TaskRun>,
    /// `schedules`/`rules`, only when UserParameters cannot give them back (a deploy file named them):
    /// `s:<group>/<name>`, `r:<bus>/<name>`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sn: Vec<String>,
    /// The scheduled tasks' moves, once announced (after every target succeeded); empty: none to move.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mv: Option<Vec<Moved>>,
}

fn is_zero(n: &u8) -> bool {
    *n == 0
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the continuation token is not one this function wrote ({0}); start a new pipeline execution")]
    Unreadable(String),
    #[error(
        "the continuation token has format version {0} but this function reads versions 1 to {VERSION} (was the \
         function replaced by another version during a deployment?); start a new pipeline execution"
    )]
    Version(u64),
    #[error(
        "the continuation token would be {0} characters; CodePipeline allows {MAX_LEN} (shorten the cluster, service \
         or task definition family names)"
    )]
    TooLong(usize),
    #[error("the continuation token does not match this action's UserParameters: {0}; start a new pipeline execution")]
    Mismatch(String),
}

impl Tracker {
    /// Reads any token this version reads, for an action on `targets` (UserParameters').
    pub fn decode(text: &str, targets: &[Target]) -> Result<Self, TokenError> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|_| TokenError::Unreadable("not JSON".into()))?;
        let unreadable = |e: serde_json::Error| TokenError::Unreadable(e.to_string());
        let tracker = match value.get("v").map(|v| v.as_u64()) {
            Some(Some(4)) => serde_json::from_value::<Tracker>(value).map_err(unreadable)?,
            Some(Some(3)) => legacy::v3(serde_json::from_value(value).map_err(unreadable)?)?,
            Some(Some(2)) => legacy::v2(serde_json::from_value(value).map_err(unreadable)?)?,
            Some(Some(1)) => legacy::v1(serde_json::from_value(value).map_err(unreadable)?)?,
            Some(Some(v)) => return Err(TokenError::Version(v)),
            _ => return Err(TokenError::Unreadable("no version".into())),
        };
        tracker.check(targets)?;
        Ok(tracker)
    }

    /// Reads a token for the action `params` describe: as [`Tracker::decode`], and what it holds beyond the
    /// services (the beforeDeploy task, the schedules) only where UserParameters sets them, or a deploy file may.
    pub fn decode_for(text: &str, params: &crate::config::Params) -> Result<Self, TokenError> {
        let tracker = Self::decode(text, &params.targets)?;
        tracker.check_reach(params)?;
        Ok(tracker)
    }

    /// The beforeDeploy task and the schedules a token names: each within its range, and nothing that the
    /// action's UserParameters (or, when it has one, its deploy file) could not have set.
    pub fn check_reach(&self, params: &crate::config::Params) -> Result<(), TokenError> {
        let bad = |what: &str| Err(TokenError::Mismatch(what.to_owned()));
        let file = params.deploy_file.is_some();
        if let Some(task) = &self.task {
            if params.before_deploy.is_none() && !file {
                return bad("it names a beforeDeploy task and UserParameters sets none");
            }
            if !matches!(self.op, Op::Release | Op::Promote) {
                return bad("it names a beforeDeploy task for an action that runs none");
            }
            let targets = self.targets(&params.targets);
            let written = params.before_deploy.as_ref().and_then(|b| b.cluster.clone()).unwrap_or_default();
            if params.before_deploy.is_some() && short_arn(&task.cluster) != short_arn(&written) {
                return bad("its beforeDeploy task runs in another cluster than UserParameters says");
            }
            if !task.cluster.is_empty() && !is_cluster(&task.cluster) {
                return bad("its beforeDeploy cluster is not a cluster name");
            }
            let names_ok = |n: &str| {
                !n.is_empty() && n.len() <= 255 && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            };
            if task.fam >= self.fams.len()
                || task.rev > MAX_REVISION
                || !(1..=crate::config::before_deploy::MAX_TASK_COUNT).contains(&task.count)
                || task.ids.len() > task.count as usize
                || task
                    .ids
                    .iter()
                    .any(|id| id.is_empty() || id.len() > 64 || !id.chars().all(|c| c.is_ascii_alphanumeric()))
                || !names_ok(&task.container)
                || task.essential.len() > 10
                || !task.essential.iter().all(|n| names_ok(n))
                || !(1..=crate::config::before_deploy::MAX_TASK_TIMEOUT_MINUTES).contains(&task.minutes)
                || targets.is_empty()
            {
                return bad("its beforeDeploy task is out of range");
            }
        }
        if !self.sn.is_empty() {
            if !file || !params.schedules.is_empty() {
                return bad("it names schedules where UserParameters does");
            }
            let ok = |s: &str| match s.split_once(':') {
                Some(("s" | "r", rest)) => rest.split_once('/').is_some_and(|(group, name)| {
                    crate::config::before_deploy::is_schedule_name(name) && !group.is_empty() && group.len() <= 1600
                }),
                _ => false,
            };
            if self.sn.len() > 2 * crate::config::before_deploy::MAX_SCHEDULES || !self.sn.iter().all(|s| ok(s)) {
                return bad("its schedules are not schedule or rule names");
            }
        }
        if let Some(moves) = &self.mv {
            let items = if self.sn.is_empty() { params.schedules.items().len() } else { self.sn.len() };
            if moves
                .iter()
                .any(|m| m.0 >= items || m.1 >= self.fams.len() || m.2 > MAX_REVISION || m.3 > MAX_REVISION || m.3 == 0)
                || moves.len() > 4 * crate::config::before_deploy::MAX_SCHEDULES
            {
                return bad("its schedule moves are out of range");
            }
        }
        Ok(())
    }

    pub fn encode(&self) -> Result<String, TokenError> {
        let text = serde_json::to_string(self).expect("a token always serializes");
        if text.len() > MAX_LEN {
            return Err(TokenError::TooLong(text.len()));
        }
        Ok(text)
    }

    /// The tracker for the next look.
    pub fn next(&self) -> Self {
        Self { polls: self.polls.saturating_add(1), ..self.clone() }
    }

    /// The targets this tracker follows: its own names, else UserParameters'.
    pub fn targets(&self, from_params: &[Target]) -> Vec<Target> {
        if self.names.is_empty() {
            return from_params.to_vec();
        }
        // Where they are comes from UserParameters alone (a deploy file names no account or region).
        let access = from_params.first().map(|t| t.access.clone()).unwrap_or_default();
        self.names.iter().map(|(c, s)| Target { access: access.clone(), ..Target::named(c, s) }).collect()
    }

    /// The family at index `i` (`@<n>`: named as target n's service).
    pub fn family(&self, i: usize, targets: &[Target]) -> String {
        let family = self.fams.get(i).map(String::as_str).unwrap_or("?");
        match family.strip_prefix('@').and_then(|n| n.parse::<usize>().ok()) {
            Some(n) => targets.get(n).map(|t| short_arn(&t.service).to_owned()).unwrap_or_default(),
            None => family.to_owned(),
        }
    }

    /// The index of `family` in `fams`, added when new (as `@<i>` when target i's service is named so).
    pub fn family_index(fams: &mut Vec<String>, family: &str, targets: &[Target]) -> usize {
        let short = targets.iter().position(|t| short_arn(&t.service) == family).map(|i| format!("@{i}"));
        let entry = short.unwrap_or_else(|| family.to_owned());
        match fams.iter().position(|f| *f == entry) {
            Some(i) => i,
            None => {
                fams.push(entry);
                fams.len() - 1
            }
        }
    }

    /// `family:revision` of target `i`'s `rev` (or `prev`).
    pub fn revision(&self, i: usize, prev: bool, targets: &[Target]) -> Option<String> {
        let slot = self.t.get(i)?;
        let (fam, rev) = if prev { (slot.4, slot.5) } else { (slot.2, slot.3) };
        (rev != 0).then(|| format!("{}:{rev}", self.family(fam, targets)))
    }

    /// `arn:<partition>:ecs:<region>:<account>` of target `i`: the tracker's (the function's own), with the
    /// account of the role and the region the target names, as UserParameters writes them.
    pub fn prefix(&self, i: usize, targets: &[Target]) -> String {
        let Some(access) = targets.get(i).map(|t| &t.access).filter(|a| !a.is_home()) else {
            return self.arn.clone();
        };
        let mut parts: Vec<&str> = self.arn.split(':').collect();
        if parts.len() == 5 {
            if let Some(region) = access.region.as_deref() {
                parts[3] = region;
            }
            if let Some(account) = access.account() {
                parts[4] = account;
            }
        }
        parts.join(":")
    }

    /// The full task definition ARN of target `i`'s `rev` (or `prev`).
    pub fn revision_arn(&self, i: usize, prev: bool, targets: &[Target]) -> Option<String> {
        self.revision(i, prev, targets).map(|r| format!("{}:task-definition/{r}", self.prefix(i, targets)))
    }

    /// The ARN of the service deployment target `i` follows.
    pub fn deployment_arn(&self, i: usize, targets: &[Target]) -> Option<String> {
        let (slot, target) = (self.t.get(i)?, targets.get(i)?);
        (!slot.0.is_empty()).then(|| {
            format!(
                "{}:service-deployment/{}/{}/{}",
                self.prefix(i, targets),
                short_arn(&target.cluster),
                short_arn(&target.service),
                slot.0
            )
        })
    }

    /// A token is input: every field within its range, and nothing named that the action's targets do not own.
    pub fn check(&self, from_params: &[Target]) -> Result<(), TokenError> {
        let bad = |what: String| Err(TokenError::Mismatch(what));
        let targets = self.targets(from_params);
        if self.t.is_empty() || self.t.len() != targets.len() {
            return bad(format!("it follows {} services and the action names {}", self.t.len(), targets.len()));
        }
        if !self.names.is_empty() && self.names.len() != self.t.len() {
            return bad("its names do not match its services".into());
        }
        // A token names its own services only where UserParameters cannot (a deploy file named them).
        let complete =
            !from_params.is_empty() && from_params.iter().all(|t| !t.cluster.is_empty() && !t.service.is_empty());
        if !self.names.is_empty() && complete && !same_services(&targets, from_params) {
            return bad("it names other services than UserParameters".into());
        }
        if self.names.iter().any(|(c, s)| c.is_empty() || s.is_empty() || c.len() > 1600 || s.len() > 1600) {
            return bad("its names are not service names".into());
        }
        if !is_ecs_arn_prefix(&self.arn) {
            return bad("its ARN prefix is not an ECS one".into());
        }
        for (i, slot) in self.t.iter().enumerate() {
            if slot.2 >= self.fams.len() || slot.4 >= self.fams.len() {
                return bad(format!("service {i} names a family it does not list"));
            }
            if slot.3 > MAX_REVISION || slot.5 > MAX_REVISION {
                return bad(format!("service {i} names a revision beyond ECS's range"));
            }
            if !slot.0.chars().all(|c| c.is_ascii_alphanumeric()) || slot.0.len() > 64 {
                return bad(format!("service {i} names a service deployment that is not an ECS id"));
            }
            if slot.7.chars().count() > STAGE_CHARS || !(0..=100).contains(&slot.10) {
                return bad(format!("service {i} has a stage or percent out of range"));
            }
        }
        for (i, family) in self.fams.iter().enumerate() {
            let name = self.family(i, &targets);
            if !is_family(&name) {
                return bad(format!("family {:?} is not a task definition family name", crate::text::clip(family, 64)));
            }
        }
        if self.keep.is_some_and(|k| !(1..=100).contains(&k)) {
            return bad("its keepRevisions is outside 1–100".into());
        }
        if let Some(Failure(i, cause, kind)) = &self.failed
            && (*i >= self.t.len() || cause.chars().count() > CAUSE_CHARS + 1 || !"JPCS".contains(*kind))
        {
            return bad("its failure is out of range".into());
        }
        if self.timeout == 0 || self.timeout > crate::config::MAX_TIMEOUT_MINUTES {
            return bad("its timeout is outside 1–1440 minutes".into());
        }
        if self.tries > 2 {
            return bad("its announcement count is out of range".into());
        }
        let cleaned: usize = self.clean.iter().map(|(_, revs)| revs.len()).sum();
        if self.clean.iter().any(|(f, revs)| *f >= self.fams.len() || revs.iter().any(|r| *r == 0 || *r > MAX_REVISION))
            || cleaned > 25
            || (!self.clean.is_empty() && self.keep.is_none())
        {
            return bad("its clean-up names revisions out of range".into());
        }
        if !self.job.is_empty() && !crate::event::is_job_id(&self.job) {
            return bad("its job is not a job id".into());
        }
        Ok(())
    }
}

/// Whether two lists name the same services in the same clusters (a name or an ARN alike).
pub fn same_services(a: &[Target], b: &[Target]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            short_arn(&x.cluster) == short_arn(&y.cluster) && short_arn(&x.service) == short_arn(&y.service)
        })
}

/// ECS task definition family names: up to 255 letters, digits, hyphens and underscores.
pub fn is_family(name: &str) -> bool {
    !name.is_empty() && name.len() <= 255 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// A cluster name (up to 255 letters, digits, hyphens and underscores) or a cluster ARN.
fn is_cluster(s: &str) -> bool {
    let name = match s.strip_prefix("arn:") {
        Some(_) => match s.split_once(":cluster/") {
            Some((prefix, name)) if is_ecs_arn_prefix(prefix) => name,
            _ => return false,
        },
        None => s,
    };
    is_family(name)
}

/// `arn:<partition>:ecs:<region>:<account>`.
fn is_ecs_arn_prefix(arn: &str) -> bool {
    let parts: Vec<&str> = arn.split(':').collect();
    parts.len() == 5
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "ecs"
        && parts[3].chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && parts[4].len() == 12
        && parts[4].chars().all(|c| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn targets(n: usize) -> Vec<Target> {
        (0..n).map(|i| Target::named("prod", &format!("web{i}"))).collect()
    }

    pub(crate) fn sample() -> Tracker {
        let mut slot = Slot::new("AbCdEfGhIjKlMnOpQrStU".into(), 1234567890123456789, (0, 43), (0, 42), State::Moving);
        slot.remember(
            &Seen { stage: "POST_PRODUCTION_TRAFFIC_SHIFT".into(), weight: 33.33, since: 1_800_000_090, percent: 40 },
            1_800_000_000,
        );
        Tracker {
            v: VERSION,
            job: "0b6a3e52-5f43-4d7e-9d64-1c2f3a4b5c6d".into(),
            op: Op::Release,
            arn: "arn:aws:ecs:eu-west-1:111111111111".into(),
            fams: vec!["@0".into()],
            t: vec![slot],
            names: Vec::new(),
            started: 1_800_000_000,
            deadline: 1_800_003_600,
            timeout: 60,
            on_timeout: OnTimeout::Rollback,
            polls: 2,
            paused: false,
            atomic: false,
            keep: Some(5),
            failed: None,
            back: None,
            nowait: false,
            expired: false,
            tries: 0,
            clean: Vec::new(),
            task: None,
            sn: Vec::new(),
            mv: None,
        }
    }

    #[test]
    fn round_trip_with_stages_kept_short() {
        let token = sample();
        let text = token.encode().unwrap();
        assert!(
            text.contains(r#""t":[["AbCdEfGhIjKlMnOpQrStU",1234567890123456789,0,43,0,42,0,"8",3333,90,40]]"#),
            "{text}"
        );
        assert!(!text.contains("paused") && !text.contains("atomic"), "defaults are left out: {text}");
        assert_eq!(Tracker::decode(&text, &targets(1)).unwrap(), token);
        assert_eq!(token.t[0].deployment_id().as_deref(), Some("ecs-svc/1234567890123456789"));
        assert_eq!(token.family(0, &targets(1)), "web0");
        assert_eq!(
            token.revision_arn(0, true, &targets(1)).unwrap(),
            "arn:aws:ecs:eu-west-1:111111111111:task-definition/web0:42"
        );
        assert_eq!(
            token.deployment_arn(0, &targets(1)).unwrap(),
            "arn:aws:ecs:eu-west-1:111111111111:service-deployment/prod/web0/AbCdEfGhIjKlMnOpQrStU"
        );
    }

    #[test]
    fn families_named_as_their_service_cost_two_characters() {
        let targets = targets(2);
        let mut fams = Vec::new();
        assert_eq!(Tracker::family_index(&mut fams, "web1", &targets), 0);
        assert_eq!(Tracker::family_index(&mut fams, "batch", &targets), 1);
        assert_eq!(Tracker::family_index(&mut fams, "web1", &targets), 0);
        assert_eq!(fams, ["@1", "batch"]);
    }

    #[test]
    fn a_token_is_checked_as_input() {
        let good = sample().encode().unwrap();
        for (text, expected) in [
            ("", "not JSON"),
            ("{}", "no version"),
            (r#"{"v":"1"}"#, "no version"),
            (r#"{"v":5,"cluster":"c"}"#, "format version 5"),
            (&good.replace(r#""polls":2"#, r#""polls":2,"extra":1"#), "unknown field"),
            (&good.replace(",0,43,0,42,", ",3,43,0,42,"), "names a family it does not list"),
            (&good.replace(",0,43,0,42,", ",0,99999999,0,42,"), "beyond ECS's range"),
            (&good.replace("AbCdEfGhIjKlMnOpQrStU", "../../other/x"), "not an ECS id"),
            (&good.replace(r#""keep":5"#, r#""keep":100000"#), "keepRevisions is outside 1–100"),
            (&good.replace(r#""fams":["@0"]"#, r#""fams":["web:1"]"#), "not a task definition family name"),
            (&good.replace("arn:aws:ecs:eu-west-1:111111111111", "arn:aws:iam::111111111111"), "not an ECS one"),
            (&good.replace(",0,42,0,", ",0,42,99,"), "unknown target state 99"),
        ] {
            let message = Tracker::decode(text, &targets(1)).unwrap_err().to_string();
            assert!(message.contains(expected), "{text}: {message}");
        }
        let two = Tracker::decode(&good, &targets(2)).unwrap_err().to_string();
        assert!(two.contains("it follows 1 services and the action names 2"), "{two}");
    }

    #[test]
    fn a_task_or_schedules_only_where_user_parameters_could_name_them() {
        let params = |raw: &str| crate::config::parse(Some(raw)).unwrap();
        let mut token = sample();
        token.task = Some(TaskRun {
            state: TaskState::Running,
            cluster: String::new(),
            ids: vec!["0123456789abcdef0123456789abcdef".into()],
            fam: 0,
            rev: 43,
            container: "web".into(),
            essential: Vec::new(),
            count: 1,
            minutes: 10,
            started: 1_800_000_000,
        });
        let text = token.encode().unwrap();
        let plain = params(r#"{"cluster":"prod","service":"web0"}"#);
        let with_task = params(r#"{"cluster":"prod","service":"web0","beforeDeploy":{}}"#);
        let elsewhere = params(r#"{"cluster":"prod","service":"web0","beforeDeploy":{"cluster":"batch"}}"#);
        let file = params(r#"{"cluster":"prod","service":"web0","deployFile":"deploy.json"}"#);
        assert!(Tracker::decode_for(&text, &with_task).is_ok());
        assert!(Tracker::decode_for(&text, &file).is_ok(), "a deploy file may have set it");
        for (p, words) in [(&plain, "UserParameters sets none"), (&elsewhere, "another cluster")] {
            let e = Tracker::decode_for(&text, p).unwrap_err().to_string();
            assert!(e.contains(words), "{e}");
        }
        let mut far = token.clone();
        far.task.as_mut().unwrap().ids.push("x".into());
        let e = Tracker::decode_for(&far.encode().unwrap(), &with_task).unwrap_err().to_string();
        assert!(e.contains("out of range"), "{e}");
        let mut moved = sample();
        moved.sn = vec!["s:batch/nightly".into()];
        moved.mv = Some(vec![Moved(0, 0, 7, 8)]);
        let text = moved.encode().unwrap();
        assert!(Tracker::decode_for(&text, &file).is_ok());
        let own = params(r#"{"cluster":"prod","service":"web0","schedules":["nightly"]}"#);
        let e = Tracker::decode_for(&text, &own).unwrap_err().to_string();
        assert!(e.contains("names schedules where UserParameters does"), "{e}");
        moved.sn.clear();
        moved.mv = Some(vec![Moved(1, 0, 7, 8)]);
        let e = Tracker::decode_for(&moved.encode().unwrap(), &own).unwrap_err().to_string();
        assert!(e.contains("schedule moves are out of range"), "{e}");
    }

    #[test]
    fn ten_targets_with_64_character_names_fit() {
        let long = |c: char, i: usize| format!("{i}{}", c.to_string().repeat(63));
        let targets: Vec<Target> = (0..10).map(|i| Target::named(&long('c', i), &long('s', i))).collect();
        let mut token = sample();
        token.arn = "arn:aws-us-gov:ecs:us-gov-west-1:123456789012".into();
        token.fams = (0..10).map(|i| format!("@{i}")).collect();
        token.t = (0..10)
            .map(|i| {
                let mut s =
                    Slot::new("x".repeat(32), u64::MAX, (i, MAX_REVISION), (i, MAX_REVISION), State::BackFailed);
                s.7 = "S".repeat(STAGE_CHARS);
                (s.8, s.9, s.10) = (10_000, 99_999, 100);
                s
            })
            .collect();
        token.polls = u32::MAX;
        token.failed = Some(Failure(9, "x".repeat(CAUSE_CHARS), 'J'));
        token.back = Some(i64::from(u32::MAX));
        token.expired = true;
        token.tries = 2;
        token.clean = vec![(0, (1..=25).map(|r| MAX_REVISION - r).collect())];
        let text = token.encode().unwrap();
        assert!(text.len() <= MAX_LEN, "{}", text.len());
        Tracker::decode(&text, &targets).unwrap();
    }
}
