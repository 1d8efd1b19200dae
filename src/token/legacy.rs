//! Tokens written by earlier releases, read into a [`Tracker`] so that an action in flight during an upgrade is
//! followed to its verdict (`tests/integration/test_upgrade.py` replays tokens the previous release wrote):
//! - v3: a release to several services (`services`), the services named by UserParameters;
//! - v2: one service deployment (a release, a continue, or the rollback action's stop or revert);
//! - v1 (the first release): one `ecs-svc/…` deployment judged from DescribeServices.

use serde::{Deserialize, Serialize};

use super::{Failure, OnTimeout, Op, Slot, State, TokenError, Tracker, VERSION};
use crate::judge::deployment::STAGES;
use crate::text::{arn_prefix, family_and_revision};

/// v3: a release to several services (`services`). The services are not in it: a continuation job carries the
/// same UserParameters, which name them in order; the token holds only what changes, so that ten services
/// with 64-character cluster and service names fit in CodePipeline's 2048 characters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServicesToken {
    pub v: u32,
    /// `arn:<partition>:ecs:<region>:<account>`: with a service's cluster and name, its deployments' ARNs.
    pub arn: String,
    /// Task definition families, referred to by index from the slots.
    pub fams: Vec<String>,
    /// One per service, in the order of `services`.
    pub t: Vec<V3Slot>,
    pub started: i64,
    pub deadline: i64,
    pub timeout: u32,
    #[serde(rename = "onTimeout")]
    pub on_timeout: OnTimeout,
    pub polls: u32,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub atomic: bool,
    /// Once one service failed: its index and the cause, kept for the report after the rollbacks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<(usize, String)>,
    /// `atomic`: the rollbacks of the other services were started.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rolling: bool,
}

/// One service's deployment: `[id, family, revision, previous, state, stage, weight, since, percent]` (an
/// array, to keep the token short). A known lifecycle stage is kept as its index in ECS's stage sequence, one ECS
/// adds later as its first characters. `id` is the service deployment's last ARN segment; `previous` 0 = none;
/// `since` counts seconds from the token's `started`; `weight` is in hundredths of a percent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct V3Slot(pub String, pub usize, pub u32, pub u32, pub SlotState, pub String, pub i64, pub i64, pub i32);

/// Where one service is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "u8", try_from = "u8")]
pub enum SlotState {
    /// Its deployment is followed.
    Deploying = 0,
    /// Its deployment succeeded (or it already ran the release).
    Succeeded = 1,
    /// Its deployment failed.
    Failed = 2,
    /// `atomic`: its deployment was stopped with a rollback, which is followed.
    RollingBack = 3,
    /// `atomic`: it had succeeded, and the service was updated back to its previous revision, which is followed.
    Reverting = 4,
    /// The rollback or revert ended well.
    RolledBack = 5,
    /// The rollback or revert did not.
    RollbackFailed = 6,
}

impl From<SlotState> for u8 {
    fn from(s: SlotState) -> u8 {
        s as u8
    }
}

impl TryFrom<u8> for SlotState {
    type Error = String;
    fn try_from(n: u8) -> Result<Self, String> {
        use SlotState::*;
        [Deploying, Succeeded, Failed, RollingBack, Reverting, RolledBack, RollbackFailed]
            .into_iter()
            .find(|s| *s as u8 == n)
            .ok_or_else(|| format!("unknown service state {n}"))
    }
}

/// v2: what to follow, and the clock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FollowToken {
    pub v: u32,
    /// One entry per service followed.
    pub targets: Vec<Target>,
    /// Seconds since the Unix epoch.
    pub started: i64,
    pub deadline: i64,
    pub timeout: u32,
    /// What to do when the deadline passes: rollback (StopServiceDeployment ROLLBACK) or leave.
    #[serde(rename = "onTimeout")]
    pub on_timeout: OnTimeout,
    /// Continuation invocations so far.
    pub polls: u32,
    /// What is followed, and so what success means.
    #[serde(default)]
    pub mode: Mode,
    /// Stop at a pause hook (`wait: "paused"`): waiting there is this action's success.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub paused: bool,
    /// `keepRevisions`: after the final success, keep this many ACTIVE revisions of the family.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep: Option<u32>,
}

/// What a followed deployment is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// A release (or a continued one): success is the deployment's success.
    #[default]
    Deploy,
    /// A deployment rolled back by StopServiceDeployment: success is ROLLBACK_SUCCESSFUL.
    Undo,
    /// A deployment of an older revision (rollback with nothing in progress): a release, reported as a rollback.
    Revert,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// The service deployment ARN (`…:service-deployment/<cluster>/<service>/<id>`).
    pub sd: String,
    /// `family:revision` being deployed, and the one the service ran before.
    pub rev: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev: Option<String>,
    /// The `ecs-svc/…` deployment id (tasks' `startedBy`), for diagnostics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dep: Option<String>,
    /// Stage and production weight at the last look, when first seen, and the highest percent reported.
    #[serde(default)]
    pub stage: String,
    /// Production traffic weight in hundredths of a percent (an integer: the token stays exact through JSON).
    #[serde(default)]
    pub weight: i64,
    #[serde(default)]
    pub since: i64,
    #[serde(default)]
    pub pct: i32,
}

/// v1, as the first release wrote it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LegacyToken {
    pub v: u32,
    pub cluster: String,
    pub service: String,
    /// The ECS deployment UpdateService started (`ecs-svc/…`).
    pub deployment_id: String,
    pub task_definition_arn: String,
    pub started_at: i64,
    pub deadline: i64,
    pub timeout_minutes: u32,
    pub polls: u32,
}

/// The digits of an `ecs-svc/…` deployment id (0 when it is not one).
fn deployment_digits(id: &str) -> u64 {
    id.strip_prefix("ecs-svc/").and_then(|d| d.parse().ok()).unwrap_or(0)
}

/// `family:revision` → (family, revision number).
fn split(revision: &str) -> (String, u32) {
    let (family, number) = family_and_revision(revision);
    (family, number.parse().unwrap_or(0))
}

fn tracker(op: Op, arn: String, fams: Vec<String>, t: Vec<Slot>, started: i64, deadline: i64, timeout: u32) -> Tracker {
    Tracker {
        v: VERSION,
        job: String::new(),
        op,
        arn,
        fams,
        t,
        names: Vec::new(),
        started,
        deadline,
        timeout,
        on_timeout: OnTimeout::Rollback,
        polls: 0,
        paused: false,
        atomic: false,
        keep: None,
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

/// v1: the deployment, the service and cluster by ARN; a timeout was reported, never rolled back.
pub fn v1(token: LegacyToken) -> Result<Tracker, TokenError> {
    if token.deployment_id.is_empty() || token.cluster.is_empty() || token.service.is_empty() {
        return Err(TokenError::Unreadable("empty cluster, service or deployment".into()));
    }
    let (family, rev) = split(&token.task_definition_arn);
    let arn = arn_prefix(&token.service).unwrap_or_default().to_owned();
    let slot = Slot::new(String::new(), deployment_digits(&token.deployment_id), (0, rev), (0, 0), State::Moving);
    let mut t =
        tracker(Op::Release, arn, vec![family], vec![slot], token.started_at, token.deadline, token.timeout_minutes);
    t.names = vec![(token.cluster, token.service)];
    t.on_timeout = OnTimeout::Leave;
    t.polls = token.polls;
    Ok(t)
}

/// v2: one service deployment by ARN, its revision and the one before, and what following it is for.
pub fn v2(token: FollowToken) -> Result<Tracker, TokenError> {
    let [target] = token.targets.as_slice() else {
        return Err(TokenError::Unreadable("no service deployment to follow".into()));
    };
    if target.sd.is_empty() || target.rev.is_empty() {
        return Err(TokenError::Unreadable("no service deployment to follow".into()));
    }
    let path = target.sd.split_once(":service-deployment/").map(|(_, p)| p).unwrap_or_default();
    let parts: Vec<&str> = path.split('/').collect();
    let [cluster, service, id] = parts.as_slice() else {
        return Err(TokenError::Unreadable("the service deployment ARN names no cluster and service".into()));
    };
    let (family, rev) = split(&target.rev);
    let (prev_family, prev) = target.prev.as_deref().map(split).unwrap_or((family.clone(), 0));
    let fams = if prev_family == family { vec![family] } else { vec![family, prev_family] };
    let pf = fams.len() - 1;
    let dep = target.dep.as_deref().map(deployment_digits).unwrap_or(0);
    // v2 named a revert's revisions the other way round: `rev` where it goes, `prev` what it ran.
    let (op, slot) = match token.mode {
        Mode::Deploy => (Op::Release, Slot::new(id.to_string(), dep, (0, rev), (pf, prev), State::Moving)),
        Mode::Undo => (Op::Rollback, Slot::new(id.to_string(), dep, (0, rev), (pf, prev), State::Undoing)),
        Mode::Revert => (Op::Rollback, Slot::new(id.to_string(), dep, (pf, prev), (0, rev), State::Reverting)),
    };
    let mut slot = slot;
    slot.7 = match STAGES.iter().position(|s| *s == target.stage) {
        Some(i) => i.to_string(),
        None => target.stage.chars().take(super::STAGE_CHARS).collect(),
    };
    (slot.8, slot.9, slot.10) = (target.weight, target.since - token.started, target.pct.clamp(0, 100));
    let arn = arn_prefix(&target.sd).unwrap_or_default().to_owned();
    let mut t = tracker(op, arn, fams, vec![slot], token.started, token.deadline, token.timeout);
    t.names = vec![(cluster.to_string(), service.to_string())];
    t.on_timeout = token.on_timeout;
    t.polls = token.polls;
    t.paused = token.paused;
    t.keep = token.keep;
    Ok(t)
}

/// v3: several services named by UserParameters, each slot `[id, family, revision, previous, state, …]`.
pub fn v3(token: ServicesToken) -> Result<Tracker, TokenError> {
    if token.t.is_empty() || token.t.iter().any(|s| s.1 >= token.fams.len()) {
        return Err(TokenError::Unreadable("no services to follow".into()));
    }
    let slots = token
        .t
        .iter()
        .map(|s| {
            let V3Slot(id, fam, rev, prev, state, stage, weight, since, pct) = s.clone();
            let (state, rev, prev) = match state {
                SlotState::Deploying => (State::Moving, rev, prev),
                SlotState::Succeeded => (State::Done, rev, prev),
                SlotState::Failed => (State::Failed, rev, prev),
                SlotState::RollingBack => (State::Undoing, rev, prev),
                // v3 swapped a revert's revisions: `rev` was where it went.
                SlotState::Reverting => (State::Reverting, prev, rev),
                SlotState::RolledBack => (State::Back, rev, prev),
                SlotState::RollbackFailed => (State::BackFailed, rev, prev),
            };
            Slot(id, 0, fam, rev, fam, prev, state, stage, weight, since, pct.clamp(0, 100))
        })
        .collect();
    let mut t = tracker(Op::Release, token.arn, token.fams, slots, token.started, token.deadline, token.timeout);
    t.on_timeout = token.on_timeout;
    t.polls = token.polls;
    t.atomic = token.atomic;
    t.failed = token.failed.map(|(i, cause)| Failure(i, cause, 'J'));
    t.back = token.rolling.then_some(token.deadline + i64::from(token.timeout) * 60);
    Ok(t)
}
