//! The continuation token: a small versioned record of what a later invocation follows.
//!
//! JSON, at most 2048 characters (CodePipeline's limit); CodePipeline hands it back verbatim in the next
//! job's `data.continuationToken`.
//! - v2 (this version writes it): the service deployments to follow, by ARN (DescribeServiceDeployments).
//! - v1 (the first release): one `ecs-svc/…` deployment judged from DescribeServices; still read, so that a
//!   rollout started before an upgrade of the function is followed to its end.

use serde::{Deserialize, Serialize};

use crate::deployment::{STAGES, Seen};

pub const VERSION: u32 = 2;
/// CodePipeline's limit for `continuationToken`.
pub const MAX_LEN: usize = 2048;

/// The version of [`ServicesToken`].
pub const SERVICES_VERSION: u32 = 3;
/// How much of a failure's cause the token keeps for the final report (after the rollbacks).
pub const CAUSE_CHARS: usize = 200;
/// The longest stage a slot keeps.
pub const STAGE_CHARS: usize = 12;

/// Any token this version reads.
#[derive(Debug, Clone, PartialEq)]
pub enum Token {
    V1(LegacyToken),
    V2(FollowToken),
    V3(ServicesToken),
}

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
    pub t: Vec<Slot>,
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
pub struct Slot(pub String, pub usize, pub u32, pub u32, pub SlotState, pub String, pub i64, pub i64, pub i32);

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

impl Slot {
    pub fn state(&self) -> SlotState {
        self.4
    }

    pub fn seen(&self, started: i64) -> Seen {
        let stage = match self.5.parse::<usize>() {
            Ok(i) if i < STAGES.len() => STAGES[i].to_owned(),
            _ => self.5.clone(),
        };
        Seen { stage, weight: self.6 as f64 / 100.0, since: started + self.7, percent: self.8 }
    }

    pub fn remember(&mut self, seen: &Seen, started: i64) {
        self.5 = match STAGES.iter().position(|s| *s == seen.stage) {
            Some(i) => i.to_string(),
            None => seen.stage.chars().take(STAGE_CHARS).collect(),
        };
        self.6 = (seen.weight * 100.0).round() as i64;
        self.7 = seen.since - started;
        self.8 = seen.percent;
    }
}

impl ServicesToken {
    pub fn encode(&self) -> Result<String, TokenError> {
        encode(self)
    }

    pub fn next(&self) -> Self {
        Self { polls: self.polls.saturating_add(1), ..self.clone() }
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
    #[serde(default, skip_serializing_if = "Mode::is_deploy")]
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

impl Mode {
    fn is_deploy(&self) -> bool {
        *self == Self::Deploy
    }
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

impl Target {
    /// A deployment to follow from `now` on, nothing seen of it yet.
    pub fn new(sd: String, rev: String, prev: Option<String>, dep: Option<String>, now: i64) -> Self {
        Self { sd, rev, prev, dep, stage: String::new(), weight: 0, since: now, pct: 0 }
    }

    pub fn seen(&self) -> Seen {
        Seen { stage: self.stage.clone(), weight: self.weight as f64 / 100.0, since: self.since, percent: self.pct }
    }

    pub fn remember(&mut self, seen: &Seen) {
        self.stage = seen.stage.clone();
        self.weight = (seen.weight * 100.0).round() as i64;
        self.since = seen.since;
        self.pct = seen.percent;
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnTimeout {
    #[default]
    Rollback,
    Leave,
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

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the continuation token is not one this function wrote ({0}); start a new pipeline execution")]
    Unreadable(String),
    #[error(
        "the continuation token has format version {0} but this function reads versions 1 to {SERVICES_VERSION} (was \
         the function replaced by another version during a deployment?); start a new pipeline execution"
    )]
    Version(u64),
    #[error(
        "the continuation token would be {0} characters; CodePipeline allows {MAX_LEN} (shorten the cluster, service \
         or task definition family names)"
    )]
    TooLong(usize),
}

fn encode<T: Serialize>(value: &T) -> Result<String, TokenError> {
    let text = serde_json::to_string(value).expect("a token always serializes");
    if text.len() > MAX_LEN {
        return Err(TokenError::TooLong(text.len()));
    }
    Ok(text)
}

impl Token {
    pub fn decode(text: &str) -> Result<Self, TokenError> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|_| TokenError::Unreadable("not JSON".into()))?;
        let unreadable = |e: serde_json::Error| TokenError::Unreadable(e.to_string());
        match value.get("v").map(|v| v.as_u64()) {
            Some(Some(1)) => {
                let token: LegacyToken = serde_json::from_value(value).map_err(unreadable)?;
                if token.deployment_id.is_empty() || token.cluster.is_empty() || token.service.is_empty() {
                    return Err(TokenError::Unreadable("empty cluster, service or deployment".into()));
                }
                Ok(Self::V1(token))
            }
            Some(Some(2)) => {
                let token: FollowToken = serde_json::from_value(value).map_err(unreadable)?;
                if token.targets.is_empty() || token.targets.iter().any(|t| t.sd.is_empty() || t.rev.is_empty()) {
                    return Err(TokenError::Unreadable("no service deployment to follow".into()));
                }
                Ok(Self::V2(token))
            }
            Some(Some(3)) => {
                let token: ServicesToken = serde_json::from_value(value).map_err(unreadable)?;
                if token.t.is_empty() || token.t.iter().any(|s| s.1 >= token.fams.len()) {
                    return Err(TokenError::Unreadable("no services to follow".into()));
                }
                Ok(Self::V3(token))
            }
            Some(Some(v)) => Err(TokenError::Version(v)),
            _ => Err(TokenError::Unreadable("no version".into())),
        }
    }
}

impl Token {
    pub fn encode(&self) -> Result<String, TokenError> {
        match self {
            Self::V1(t) => t.encode(),
            Self::V2(t) => t.encode(),
            Self::V3(t) => t.encode(),
        }
    }
}

impl FollowToken {
    pub fn encode(&self) -> Result<String, TokenError> {
        encode(self)
    }

    /// The token for the next look.
    pub fn next(&self) -> Self {
        Self { polls: self.polls.saturating_add(1), ..self.clone() }
    }
}

impl LegacyToken {
    pub fn encode(&self) -> Result<String, TokenError> {
        encode(self)
    }

    pub fn next(&self) -> Self {
        Self { polls: self.polls.saturating_add(1), ..self.clone() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample() -> FollowToken {
        FollowToken {
            v: VERSION,
            targets: vec![Target {
                sd: "arn:aws:ecs:eu-west-1:111111111111:service-deployment/prod/web/AbCdEfGhIjKlMnOpQrStU".into(),
                rev: "web:43".into(),
                prev: Some("web:42".into()),
                dep: Some("ecs-svc/1234567890123456789".into()),
                stage: String::new(),
                weight: 0,
                since: 0,
                pct: 0,
            }],
            started: 1_800_000_000,
            deadline: 1_800_003_600,
            timeout: 60,
            on_timeout: OnTimeout::Rollback,
            polls: 0,
            mode: Mode::Deploy,
            paused: false,
            keep: None,
        }
    }

    fn legacy() -> LegacyToken {
        LegacyToken {
            v: 1,
            cluster: "arn:aws:ecs:eu-west-1:111111111111:cluster/prod".into(),
            service: "arn:aws:ecs:eu-west-1:111111111111:service/prod/web".into(),
            deployment_id: "ecs-svc/1234567890123456789".into(),
            task_definition_arn: "arn:aws:ecs:eu-west-1:111111111111:task-definition/web:43".into(),
            started_at: 1_800_000_000,
            deadline: 1_800_003_600,
            timeout_minutes: 60,
            polls: 0,
        }
    }

    #[test]
    fn round_trip() {
        let token = sample();
        let text = token.encode().unwrap();
        assert!(text.starts_with(r#"{"v":2,"#), "{text}");
        assert!(text.contains(r#""onTimeout":"rollback""#), "{text}");
        assert!(!text.contains("mode") && !text.contains("paused"), "defaults are left out: {text}");
        let undo = FollowToken { mode: Mode::Undo, paused: true, ..token.clone() };
        let again = undo.encode().unwrap();
        assert!(again.contains(r#""mode":"undo","paused":true"#), "{again}");
        assert_eq!(Token::decode(&again).unwrap(), Token::V2(undo));
        assert_eq!(Token::decode(&text).unwrap(), Token::V2(token.clone()));
        assert_eq!(token.next().polls, 1);
    }

    #[test]
    fn a_services_token_round_trips_with_stages_kept_short() {
        let mut slot = Slot("AbCdEfGhIjKlMnOpQrStU".into(), 0, 8, 7, SlotState::Deploying, String::new(), 0, 0, 0);
        let seen =
            Seen { stage: "POST_PRODUCTION_TRAFFIC_SHIFT".into(), weight: 33.33, since: 1_800_000_090, percent: 40 };
        slot.remember(&seen, 1_800_000_000);
        assert_eq!((slot.5.as_str(), slot.6, slot.7), ("8", 3333, 90), "a known stage is kept as its index");
        assert_eq!(slot.seen(1_800_000_000), seen);
        let token = ServicesToken {
            v: SERVICES_VERSION,
            arn: "arn:aws:ecs:eu-west-1:111111111111".into(),
            fams: vec!["web".into()],
            t: vec![slot],
            started: 1_800_000_000,
            deadline: 1_800_003_600,
            timeout: 60,
            on_timeout: OnTimeout::Rollback,
            polls: 2,
            atomic: true,
            failed: Some((0, "the circuit breaker tripped".into())),
            rolling: true,
        };
        let text = token.encode().unwrap();
        assert!(text.contains(r#""t":[["AbCdEfGhIjKlMnOpQrStU",0,8,7,0,"8",3333,90,40]]"#), "{text}");
        assert_eq!(Token::decode(&text).unwrap(), Token::V3(token.clone()));
        let bad = text.replace(r#",0,8,7,0,"#, ",5,8,7,0,");
        assert!(Token::decode(&bad).unwrap_err().to_string().contains("no services to follow"));
        let bad = text.replace(r#",0,8,7,0,"#, ",0,8,7,9,");
        assert!(Token::decode(&bad).unwrap_err().to_string().contains("unknown service state 9"));
    }

    #[test]
    fn a_token_of_the_first_release_is_still_read() {
        // Verbatim as the first release wrote it.
        let text = r#"{"v":1,"cluster":"arn:aws:ecs:eu-west-1:111111111111:cluster/prod","service":"arn:aws:ecs:eu-west-1:111111111111:service/prod/web","deploymentId":"ecs-svc/1234567890123456789","taskDefinitionArn":"arn:aws:ecs:eu-west-1:111111111111:task-definition/web:43","startedAt":1800000000,"deadline":1800003600,"timeoutMinutes":60,"polls":0}"#;
        assert_eq!(Token::decode(text).unwrap(), Token::V1(legacy()));
        assert_eq!(legacy().encode().unwrap(), text);
    }

    #[test]
    fn longest_names_fit() {
        // ECS allows 255 characters for cluster, service and family names.
        let long = "x".repeat(255);
        let mut token = sample();
        token.targets[0].sd = format!(
            "arn:aws-us-gov:ecs:us-gov-west-1:111111111111:service-deployment/{long}/{long}/AbCdEfGhIjKlMnOpQrStU"
        );
        token.targets[0].rev = format!("{long}:99999");
        token.targets[0].prev = Some(format!("{long}:99998"));
        token.targets[0].stage = "POST_PRODUCTION_TRAFFIC_SHIFT".into();
        token.targets[0].weight = 3333;
        token.targets[0].pct = 99;
        token.polls = u32::MAX;
        assert!(token.encode().unwrap().len() <= MAX_LEN);
        let mut too_long = sample();
        too_long.targets[0].sd = "c".repeat(MAX_LEN);
        assert!(matches!(too_long.encode(), Err(TokenError::TooLong(_))));
    }

    #[test]
    fn refusals() {
        let good = sample().encode().unwrap();
        for (text, expected) in [
            ("", "not JSON"),
            ("A continuation token if continuing job", "not JSON"),
            ("{}", "no version"),
            (r#"{"v":"1"}"#, "no version"),
            (r#"{"v":4,"cluster":"c"}"#, "format version 4"),
            (r#"{"v":3,"cluster":"c"}"#, "unknown field `cluster`"),
            (r#"{"v":1,"cluster":"c"}"#, "missing field"),
            (r#"{"v":2,"targets":[]}"#, "missing field"),
            (&good.replace(r#""polls":0"#, r#""polls":0,"extra":1"#), "unknown field"),
            (&good.replace("web:43", ""), "no service deployment"),
        ] {
            let message = Token::decode(text).unwrap_err().to_string();
            assert!(message.contains(expected), "{text}: {message}");
        }
    }
}
