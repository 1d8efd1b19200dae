//! Judging one ECS service deployment as ECS itself reports it (DescribeServiceDeployments), for every
//! strategy: ROLLING, BLUE_GREEN, LINEAR and CANARY. Pure: an answer and a clock in, a verdict and text out.
//!
//! Follows the ECS developer guide (service-deployment.html, deployment-type-blue-green.html,
//! pause-lifecycle-hooks.html, deployment-failure-detection.html, early-success-criteria.html) and the API
//! reference (API_ServiceDeployment, API_DeploymentConfiguration). Statuses, stages and hook statuses are
//! handled as the strings ECS sends, so a value this version does not know is shown as ECS names it.

use std::fmt::Write;

use aws_sdk_ecs::types::{DeploymentConfiguration, DeploymentLifecycleHookDetail, ServiceDeployment};

use crate::clock::iso8601;
use crate::text::short_arn;

/// What the follow remembers between looks (in the continuation token) to show bake time left and keep
/// `percentComplete` from going backwards.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Seen {
    /// The stage and production weight at the previous look, and when (our clock) they were first seen.
    pub stage: String,
    pub weight: f64,
    pub since: i64,
    /// The highest percentComplete reported so far.
    pub percent: i32,
}

/// A deployment held at a pause hook, waiting for ContinueServiceDeployment.
#[derive(Debug, Clone, PartialEq)]
pub struct Pause {
    pub hook_id: String,
    pub stage: String,
    pub expires_at: Option<i64>,
    /// What ECS does when the hook times out (ROLLBACK or CONTINUE).
    pub timeout_action: String,
}

impl Pause {
    pub fn describe(&self) -> String {
        let until = self.expires_at.map(|t| format!(" until {}", iso8601(t))).unwrap_or_default();
        format!(
            "waiting at {} for ContinueServiceDeployment (pause hook {}){until}; if nobody continues it, the hook's \
             timeout action {} applies",
            self.stage, self.hook_id, self.timeout_action
        )
    }
}

/// Where one service deployment stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Succeeded {
        notes: Vec<String>,
    },
    InProgress {
        percent: i32,
        line: String,
        pause: Option<Pause>,
        seen: Seen,
    },
    /// Failed, stopped or rolling back: a final `JobFailed` with this text (the cause first).
    Failed {
        status: String,
        message: String,
    },
}

/// What the judge needs besides ECS's answer.
#[derive(Debug, Clone, Default)]
pub struct Context<'a> {
    /// `family:revision` being deployed, and the one it replaces.
    pub revision: &'a str,
    pub previous: Option<&'a str>,
    pub now: i64,
    pub seen: Seen,
}

/// The status ECS reports, as ECS names it.
pub fn status(sd: &ServiceDeployment) -> &str {
    sd.status().map(|s| s.as_str()).unwrap_or("UNKNOWN")
}

pub fn strategy(config: Option<&DeploymentConfiguration>) -> &str {
    config.and_then(|c| c.strategy()).map(|s| s.as_str()).unwrap_or("ROLLING")
}

/// Judges one look at a service deployment.
pub fn judge(sd: &ServiceDeployment, cx: &Context) -> Verdict {
    let status = status(sd);
    match status {
        "SUCCESSFUL" => Verdict::Succeeded { notes: success_notes(sd) },
        "STOP_REQUESTED"
        | "ROLLBACK_REQUESTED"
        | "ROLLBACK_IN_PROGRESS"
        | "ROLLBACK_SUCCESSFUL"
        | "STOPPED"
        | "ROLLBACK_FAILED" => Verdict::Failed { status: status.to_owned(), message: failure(sd, cx) },
        // PENDING, IN_PROGRESS, and anything ECS adds later: in progress until the deadline.
        _ => progress(sd, cx),
    }
}

/// Judges a look at a deployment that this action asked ECS to roll back (StopServiceDeployment ROLLBACK):
/// success is ROLLBACK_SUCCESSFUL. `cx.revision` is the deployment's own revision, `cx.previous` the one it
/// rolls back to.
pub fn judge_rollback(sd: &ServiceDeployment, cx: &Context) -> Verdict {
    let status = status(sd);
    let to = cx.previous.unwrap_or("the last completed deployment");
    match status {
        "ROLLBACK_SUCCESSFUL" => Verdict::Succeeded { notes: Vec::new() },
        "ROLLBACK_FAILED" | "STOPPED" => Verdict::Failed { status: status.to_owned(), message: failure(sd, cx) },
        "SUCCESSFUL" => Verdict::Failed {
            status: status.to_owned(),
            message: format!(
                "Service deployment {} of {} finished before the rollback took effect: the service runs {}. Run the \
                 rollback action again to deploy {to}.",
                id(sd),
                cx.revision,
                cx.revision
            ),
        },
        _ => {
            let percent = match status {
                "ROLLBACK_IN_PROGRESS" => 50,
                "ROLLBACK_REQUESTED" => 10,
                _ => 0,
            }
            .max(cx.seen.percent);
            let line =
                format!("Rolling back service deployment {} of {} to {to}: status {status}", id(sd), cx.revision);
            Verdict::InProgress { percent, line, pause: None, seen: Seen { percent, ..cx.seen.clone() } }
        }
    }
}

fn id(sd: &ServiceDeployment) -> &str {
    sd.service_deployment_arn().map(short_arn).unwrap_or("(unknown)")
}

fn success_notes(sd: &ServiceDeployment) -> Vec<String> {
    let mut notes = Vec::new();
    let old_running: i32 = sd.source_service_revisions().iter().map(|r| r.running_task_count()).sum();
    if old_running > 0 {
        notes.push(format!(
            "ECS declared it successful early (earlySuccessCriteria); {old_running} task(s) of the previous revision \
             are still being cleaned up"
        ));
    }
    notes
}

/// Why it failed, most specific first: circuit breaker, alarms, lifecycle hooks, a stop request, then ECS's
/// own reasons.
pub fn causes(sd: &ServiceDeployment) -> Vec<String> {
    let mut causes = Vec::new();
    if let Some(cb) = sd.deployment_circuit_breaker()
        && cb.status().map(|s| s.as_str()) == Some("TRIGGERED")
    {
        causes.push(format!(
            "the deployment circuit breaker tripped: {} task(s) failed (threshold {})",
            cb.failure_count(),
            cb.threshold()
        ));
    }
    if let Some(alarms) = sd.alarms()
        && alarms.status().map(|s| s.as_str()) == Some("TRIGGERED")
    {
        let names = alarms.triggered_alarm_names();
        causes.push(match names {
            [] => "a CloudWatch alarm went into ALARM".to_owned(),
            [one] => format!("the CloudWatch alarm \"{one}\" went into ALARM"),
            many => format!(
                "the CloudWatch alarms {} went into ALARM",
                many.iter().map(|n| format!("\"{n}\"")).collect::<Vec<_>>().join(", ")
            ),
        });
    }
    let stage = sd.lifecycle_stage().map(|s| s.as_str()).unwrap_or("an unknown stage");
    for hook in sd.lifecycle_hook_details() {
        let hook_status = hook.status().map(|s| s.as_str()).unwrap_or("");
        if matches!(hook_status, "FAILED" | "TIMED_OUT") {
            let verb = if hook_status == "FAILED" { "failed" } else { "timed out" };
            causes.push(format!("lifecycle hook {} {verb} at {stage}", describe_hook(hook)));
        }
    }
    let reasons = [sd.status_reason(), sd.rollback().and_then(|r| r.reason())];
    if causes.is_empty() && reasons.iter().flatten().any(|r| mentions_stop_request(r)) {
        causes.push("it was stopped by a StopServiceDeployment request (a person or another tool)".to_owned());
    }
    if let Some(reason) = sd.status_reason().filter(|r| !r.is_empty()) {
        causes.push(format!("ECS says: {}", crate::text::clip(reason, 500)));
    }
    if let Some(reason) = sd.rollback().and_then(|r| r.reason()).filter(|r| Some(*r) != sd.status_reason()) {
        causes.push(format!("rollback reason: {}", crate::text::clip(reason, 500)));
    }
    causes
}

fn mentions_stop_request(reason: &str) -> bool {
    let lower = reason.to_ascii_lowercase();
    lower.contains("stopservicedeployment") || lower.contains("stopped by user") || lower.contains("user initiated")
}

fn describe_hook(hook: &DeploymentLifecycleHookDetail) -> String {
    let id = hook.hook_id().unwrap_or("?");
    let kind = hook.target_type().map(|t| t.as_str()).unwrap_or("?");
    match hook.target_arn() {
        Some(arn) => format!("{id} ({kind} {arn})"),
        None => format!("{id} ({kind})"),
    }
}

/// The final failure text for a deployment that failed, stopped or is rolling back.
fn failure(sd: &ServiceDeployment, cx: &Context) -> String {
    let status = status(sd);
    let arn = sd.service_deployment_arn().unwrap_or("(unknown)");
    let causes = causes(sd);
    let cause = if causes.is_empty() {
        String::new()
    } else {
        // ECS's own reasons often end in a full stop; the sentence goes on after the causes.
        format!(": {}", causes.join("; ").trim_end_matches('.'))
    };
    let head =
        format!("Service deployment {} of {} ({})", id(sd), cx.revision, strategy(sd.deployment_configuration()));
    let to = rollback_target(sd, cx);
    let watch = format!("watch it with: aws ecs describe-service-deployments --service-deployment-arns {arn}");
    match status {
        "ROLLBACK_REQUESTED" | "ROLLBACK_IN_PROGRESS" => {
            format!("{head} failed{cause}. ECS is rolling back{to} ({status}); {watch}")
        }
        "STOP_REQUESTED" => format!("{head} is being stopped{cause}. ECS is stopping it without a rollback; {watch}"),
        "ROLLBACK_SUCCESSFUL" => format!("{head} failed{cause}. ECS rolled back{to}."),
        "STOPPED" => format!(
            "{head} was stopped{cause}. ECS did not roll it back: the service stays on {} with the tasks it has; \
             fix the cause and retry the stage, or deploy the previous release",
            cx.revision
        ),
        _ => format!(
            "ROLLBACK FAILED — {head} failed{cause}, and ECS's rollback{to} failed too: the service may be running a \
             mix of revisions. Check its tasks (aws ecs list-tasks --service-name …), then deploy a known-good \
             revision{} (re-run the last good pipeline execution, or aws ecs update-service --task-definition …). \
             {watch}",
            cx.previous.map(|p| format!(" such as {p}")).unwrap_or_default()
        ),
    }
}

fn rollback_target(sd: &ServiceDeployment, cx: &Context) -> String {
    let revision = sd.rollback().and_then(|r| r.service_revision_arn()).map(short_arn);
    match (revision, cx.previous) {
        (Some(rev), Some(prev)) => {
            format!(" to service revision {rev} (the service ran {prev} before this deploy)")
        }
        (Some(rev), None) => format!(" to service revision {rev}"),
        (None, Some(prev)) => format!(" to the last completed deployment (the service ran {prev} before this deploy)"),
        (None, None) => " to the last completed deployment".to_owned(),
    }
}

/// The in-progress line and percentage.
fn progress(sd: &ServiceDeployment, cx: &Context) -> Verdict {
    let config = sd.deployment_configuration();
    let strategy = strategy(config);
    let stage = sd.lifecycle_stage().map(|s| s.as_str()).unwrap_or("").to_owned();
    let target = sd.target_service_revision();
    let (running, requested) = target.map(|t| (t.running_task_count(), t.requested_task_count())).unwrap_or((0, 0));
    let production = target.and_then(|t| t.requested_production_traffic_weight()).unwrap_or(0.0);
    let test = target.and_then(|t| t.requested_test_traffic_weight());

    // Weights are compared in hundredths of a percent, as the token keeps them.
    let same_weight = (cx.seen.weight * 100.0).round() == (production * 100.0).round();
    let seen = if cx.seen.stage == stage && same_weight {
        Seen { percent: cx.seen.percent, ..cx.seen.clone() }
    } else {
        Seen { stage: stage.clone(), weight: production, since: cx.now, percent: cx.seen.percent }
    };
    let in_stage_minutes = (cx.now - seen.since).max(0) as f64 / 60.0;

    let mut line = format!("{strategy} deployment {} of {}", id(sd), cx.revision);
    let shown_status = status(sd);
    if !matches!(shown_status, "PENDING" | "IN_PROGRESS") {
        let _ = write!(line, " (status {shown_status}, not known to this version: treated as in progress)");
    } else if shown_status == "PENDING" {
        line.push_str(" (pending)");
    }
    if !stage.is_empty() {
        let _ = write!(line, ": stage {stage}");
    }
    let _ = write!(line, "; {running} of {requested} tasks running");
    if strategy != "ROLLING" {
        let _ = write!(line, "; production traffic {} %", weight(production));
        if let Some(test) = test {
            let _ = write!(line, " (test traffic {} %)", weight(test));
        }
    }
    let bake = bake_minutes(config, strategy, &stage, production);
    if let Some(bake) = bake {
        let left = (f64::from(bake) - in_stage_minutes).max(0.0).ceil();
        let _ = write!(line, "; bake time {bake} min, about {left} min left");
    }
    let pause = awaiting(sd, &stage);
    if let Some(pause) = &pause {
        let _ = write!(line, "; {}", pause.describe());
    }

    let fraction = bake.map(|b| if b == 0 { 1.0 } else { (in_stage_minutes / f64::from(b)).min(1.0) });
    let computed = percent(strategy, &stage, running, requested, production, fraction);
    let percent = computed.unwrap_or(seen.percent).max(seen.percent).clamp(0, 99);
    Verdict::InProgress { percent, line, pause, seen: Seen { percent, ..seen } }
}

fn weight(w: f64) -> String {
    if w.fract() == 0.0 { format!("{w:.0}") } else { format!("{w:.1}") }
}

/// The bake running now, in minutes: the final bake (BAKE_TIME), or a linear/canary step's bake while
/// production traffic sits between 0 and 100 %.
fn bake_minutes(config: Option<&DeploymentConfiguration>, strategy: &str, stage: &str, production: f64) -> Option<i32> {
    let config = config?;
    if stage == "BAKE_TIME" {
        return Some(config.bake_time_in_minutes().unwrap_or(0));
    }
    if stage != "PRODUCTION_TRAFFIC_SHIFT" || production <= 0.0 || production >= 100.0 {
        return None;
    }
    match strategy {
        "LINEAR" => Some(
            config
                .linear_configuration()
                .and_then(|l| l.step_bake_time_in_minutes())
                .unwrap_or(DEFAULT_LINEAR_STEP_BAKE),
        ),
        "CANARY" => Some(
            config.canary_configuration().and_then(|c| c.canary_bake_time_in_minutes()).unwrap_or(DEFAULT_CANARY_BAKE),
        ),
        _ => None,
    }
}

/// The hook awaiting action, if the deployment waits at a pause.
pub fn awaiting(sd: &ServiceDeployment, stage: &str) -> Option<Pause> {
    sd.lifecycle_hook_details().iter().find(|h| h.status().map(|s| s.as_str()) == Some("AWAITING_ACTION")).map(|h| {
        Pause {
            hook_id: h.hook_id().unwrap_or("?").to_owned(),
            stage: if stage.is_empty() { "an unknown stage".into() } else { stage.to_owned() },
            expires_at: h.expires_at().map(|t| t.secs()),
            timeout_action: h.timeout_action().map(|a| a.as_str()).unwrap_or("ROLLBACK").to_owned(),
        }
    })
}

/// How far along, by strategy: ROLLING by tasks, LINEAR/CANARY by production weight (bake towards the end),
/// BLUE_GREEN by stage. `None` when this look says nothing new (an unknown stage).
fn percent(
    strategy: &str,
    stage: &str,
    running: i32,
    requested: i32,
    production: f64,
    bake_done: Option<f64>,
) -> Option<i32> {
    let stage_order = STAGES.iter().position(|s| *s == stage);
    if stage == "CLEAN_UP" {
        return Some(99);
    }
    match strategy {
        "ROLLING" if requested > 0 => Some((i64::from(running) * 100 / i64::from(requested)).clamp(0, 99) as i32),
        "ROLLING" => stage_order.map(|_| 0),
        "LINEAR" | "CANARY" => {
            let order = stage_order?;
            if stage == "BAKE_TIME" {
                return Some(90 + (bake_done.unwrap_or(0.0) * 8.0) as i32);
            }
            if order > PRODUCTION_SHIFT_INDEX {
                return Some(90);
            }
            if order < PRODUCTION_SHIFT_INDEX {
                return Some(order as i32);
            }
            Some(10 + (production.clamp(0.0, 100.0) * 0.8) as i32)
        }
        _ => {
            // BLUE_GREEN (and any new strategy): by stage, the bake filling the end.
            let order = stage_order?;
            if stage == "BAKE_TIME" {
                return Some(80 + (bake_done.unwrap_or(0.0) * 18.0) as i32);
            }
            Some((order as i32 * 10).min(80))
        }
    }
}

/// The stage sequence of service-deployment.html (PRE_PRODUCTION_TRAFFIC_SHIFT is in the guide but not yet in
/// every SDK's enum).
pub(crate) const STAGES: [&str; 11] = [
    "RECONCILE_SERVICE",
    "PRE_SCALE_UP",
    "SCALE_UP",
    "POST_SCALE_UP",
    "TEST_TRAFFIC_SHIFT",
    "POST_TEST_TRAFFIC_SHIFT",
    "PRE_PRODUCTION_TRAFFIC_SHIFT",
    "PRODUCTION_TRAFFIC_SHIFT",
    "POST_PRODUCTION_TRAFFIC_SHIFT",
    "BAKE_TIME",
    "CLEAN_UP",
];
const PRODUCTION_SHIFT_INDEX: usize = 7;

/// API defaults (API_LinearConfiguration, API_CanaryConfiguration).
const DEFAULT_LINEAR_STEP_PERCENT: f64 = 10.0;
const DEFAULT_LINEAR_STEP_BAKE: i32 = 6;
const DEFAULT_CANARY_BAKE: i32 = 10;

/// The least time a deployment with this configuration takes (bakes only), in minutes: BLUE_GREEN its bake;
/// CANARY the canary bake plus the final bake; LINEAR (steps − 1) step bakes (none follows 100 %) plus the
/// final bake. ROLLING: 0.
pub fn minimum_minutes(config: Option<&DeploymentConfiguration>) -> u32 {
    let Some(config) = config else { return 0 };
    let bake = config.bake_time_in_minutes().unwrap_or(0).max(0) as u32;
    match strategy(Some(config)) {
        "BLUE_GREEN" => bake,
        "CANARY" => {
            let canary = config.canary_configuration().and_then(|c| c.canary_bake_time_in_minutes());
            canary.unwrap_or(DEFAULT_CANARY_BAKE).max(0) as u32 + bake
        }
        "LINEAR" => {
            let linear = config.linear_configuration();
            let step = linear.and_then(|l| l.step_percent()).unwrap_or(DEFAULT_LINEAR_STEP_PERCENT).clamp(1.0, 100.0);
            let steps = (100.0 / step).ceil() as u32;
            let step_bake = linear.and_then(|l| l.step_bake_time_in_minutes()).unwrap_or(DEFAULT_LINEAR_STEP_BAKE);
            steps.saturating_sub(1) * step_bake.max(0) as u32 + bake
        }
        _ => 0,
    }
}

/// Time allowed beyond the configured bakes when `timeoutMinutes` is not set.
pub const TIMEOUT_MARGIN_MINUTES: u32 = 30;

/// The timeout to apply and, when it is not simply the one asked for, why.
pub fn timeout_minutes(
    explicit: Option<u32>,
    default: u32,
    max: u32,
    config: Option<&DeploymentConfiguration>,
) -> (u32, Option<String>) {
    let minimum = minimum_minutes(config);
    let strategy = strategy(config);
    match explicit {
        Some(asked) if asked < minimum => (
            asked,
            Some(format!(
                "warning: timeoutMinutes {asked} is shorter than the {minimum} min of bake time that this {strategy} \
                 configuration needs; the deploy will time out before ECS can finish"
            )),
        ),
        Some(asked) => (asked, None),
        None if minimum + TIMEOUT_MARGIN_MINUTES <= default => (default, None),
        None if minimum + TIMEOUT_MARGIN_MINUTES <= max => (
            minimum + TIMEOUT_MARGIN_MINUTES,
            Some(format!(
                "timeout {} min: this {strategy} configuration bakes for {minimum} min, plus {TIMEOUT_MARGIN_MINUTES} min",
                minimum + TIMEOUT_MARGIN_MINUTES
            )),
        ),
        None => (
            max,
            Some(format!(
                "warning: this {strategy} configuration bakes for {minimum} min, more than CodePipeline's {max}-minute \
                 action limit allows with a margin; the timeout is {max} min and the deploy may not finish in it"
            )),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ecs::types::{
        CanaryConfiguration, DeploymentLifecycleHookAction, DeploymentLifecycleHookStatus,
        DeploymentLifecycleHookTargetType, DeploymentStrategy, LinearConfiguration, Rollback, ServiceDeploymentAlarms,
        ServiceDeploymentCircuitBreaker, ServiceDeploymentLifecycleStage, ServiceDeploymentRollbackMonitorsStatus,
        ServiceDeploymentStatus, ServiceRevisionSummary,
    };
    use aws_smithy_types::DateTime;

    const ARN: &str = "arn:aws:ecs:us-east-1:123456789012:service-deployment/prod/web/sd1";

    fn config(strategy: &str) -> DeploymentConfiguration {
        DeploymentConfiguration::builder()
            .strategy(DeploymentStrategy::from(strategy))
            .bake_time_in_minutes(60)
            .linear_configuration(
                LinearConfiguration::builder().step_percent(25.0).step_bake_time_in_minutes(5).build(),
            )
            .canary_configuration(
                CanaryConfiguration::builder().canary_percent(10.0).canary_bake_time_in_minutes(15).build(),
            )
            .build()
    }

    fn sd(strategy: &str, status: &str, stage: &str, running: i32, production: f64) -> ServiceDeployment {
        ServiceDeployment::builder()
            .service_deployment_arn(ARN)
            .status(ServiceDeploymentStatus::from(status))
            .lifecycle_stage(ServiceDeploymentLifecycleStage::from(stage))
            .deployment_configuration(config(strategy))
            .target_service_revision(
                ServiceRevisionSummary::builder()
                    .arn("arn:aws:ecs:us-east-1:123456789012:service-revision/prod/web/2")
                    .requested_task_count(4)
                    .running_task_count(running)
                    .requested_production_traffic_weight(production)
                    .requested_test_traffic_weight(100.0)
                    .build(),
            )
            .build()
    }

    fn cx(now: i64, seen: Seen) -> Context<'static> {
        Context { revision: "web:8", previous: Some("web:7"), now, seen }
    }

    fn in_progress(v: Verdict) -> (i32, String, Option<Pause>, Seen) {
        match v {
            Verdict::InProgress { percent, line, pause, seen } => (percent, line, pause, seen),
            other => panic!("{other:?}"),
        }
    }

    fn failed(v: Verdict) -> String {
        match v {
            Verdict::Failed { message, .. } => message,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn statuses() {
        let cases = [
            ("SUCCESSFUL", "success"),
            ("PENDING", "progress"),
            ("IN_PROGRESS", "progress"),
            ("SOMETHING_NEW", "progress"),
            ("STOP_REQUESTED", "failed"),
            ("ROLLBACK_REQUESTED", "failed"),
            ("ROLLBACK_IN_PROGRESS", "failed"),
            ("ROLLBACK_SUCCESSFUL", "failed"),
            ("STOPPED", "failed"),
            ("ROLLBACK_FAILED", "failed"),
        ];
        for (status, expected) in cases {
            let verdict = judge(&sd("ROLLING", status, "SCALE_UP", 1, 0.0), &cx(0, Seen::default()));
            let got = match verdict {
                Verdict::Succeeded { .. } => "success",
                Verdict::InProgress { .. } => "progress",
                Verdict::Failed { .. } => "failed",
            };
            assert_eq!(got, expected, "{status}");
        }
    }

    #[test]
    fn unknown_values_are_shown_as_ecs_names_them() {
        let (_, line, _, _) = in_progress(judge(
            &sd("ROLLING", "WARMING_UP", "PRE_PRODUCTION_TRAFFIC_SHIFT", 0, 0.0),
            &cx(0, Seen::default()),
        ));
        assert!(line.contains("status WARMING_UP, not known to this version"), "{line}");
        assert!(line.contains("stage PRE_PRODUCTION_TRAFFIC_SHIFT"), "{line}");
    }

    #[test]
    fn progress_lines_by_strategy() {
        // (strategy, stage, running, production weight, seconds in the stage, percent, words)
        type Case = (&'static str, &'static str, i32, f64, i64, i32, &'static [&'static str]);
        let cases: Vec<Case> = vec![
            (
                "ROLLING",
                "SCALE_UP",
                1,
                0.0,
                0,
                25,
                &["ROLLING deployment sd1 of web:8: stage SCALE_UP; 1 of 4 tasks running"],
            ),
            ("ROLLING", "SCALE_UP", 4, 0.0, 0, 99, &["4 of 4 tasks running"]),
            ("BLUE_GREEN", "TEST_TRAFFIC_SHIFT", 4, 0.0, 0, 40, &["production traffic 0 % (test traffic 100 %)"]),
            (
                "BLUE_GREEN",
                "BAKE_TIME",
                4,
                100.0,
                30 * 60,
                89,
                &["stage BAKE_TIME", "bake time 60 min, about 30 min left"],
            ),
            (
                "LINEAR",
                "PRODUCTION_TRAFFIC_SHIFT",
                4,
                50.0,
                2 * 60,
                50,
                &["production traffic 50 %", "bake time 5 min, about 3 min left"],
            ),
            (
                "CANARY",
                "PRODUCTION_TRAFFIC_SHIFT",
                4,
                10.0,
                0,
                18,
                &["production traffic 10 %", "bake time 15 min, about 15 min left"],
            ),
            ("CANARY", "BAKE_TIME", 4, 100.0, 60 * 60, 98, &["bake time 60 min, about 0 min left"]),
            ("CANARY", "CLEAN_UP", 4, 100.0, 0, 99, &["stage CLEAN_UP"]),
        ];
        for (strategy, stage, running, production, elapsed, expected_percent, words) in cases {
            let seen = Seen { stage: stage.into(), weight: production, since: 1000, percent: 0 };
            let (percent, line, pause, _) =
                in_progress(judge(&sd(strategy, "IN_PROGRESS", stage, running, production), &cx(1000 + elapsed, seen)));
            assert_eq!(percent, expected_percent, "{strategy} {stage}: {line}");
            assert!(pause.is_none());
            for w in words {
                assert!(line.contains(w), "{strategy} {stage}: {line:?} lacks {w:?}");
            }
        }
    }

    #[test]
    fn percent_never_goes_backwards_and_a_new_stage_restarts_the_bake_clock() {
        let seen = Seen { stage: "SCALE_UP".into(), weight: 0.0, since: 0, percent: 70 };
        let (percent, _, _, seen) =
            in_progress(judge(&sd("BLUE_GREEN", "IN_PROGRESS", "BAKE_TIME", 4, 100.0), &cx(500, seen)));
        assert_eq!(percent, 80);
        assert_eq!((seen.stage.as_str(), seen.since), ("BAKE_TIME", 500));
        let high = Seen { percent: 95, ..seen };
        let (percent, _, _, _) =
            in_progress(judge(&sd("BLUE_GREEN", "IN_PROGRESS", "BAKE_TIME", 4, 100.0), &cx(560, high)));
        assert_eq!(percent, 95);
    }

    #[test]
    fn a_pause_hook_says_what_waits_until_when_and_what_then() {
        let hook = DeploymentLifecycleHookDetail::builder()
            .hook_id("approve")
            .target_type(DeploymentLifecycleHookTargetType::from("PAUSE"))
            .status(DeploymentLifecycleHookStatus::from("AWAITING_ACTION"))
            .expires_at(DateTime::from_secs(1_800_000_000))
            .timeout_action(DeploymentLifecycleHookAction::from("ROLLBACK"))
            .build();
        let mut d = sd("CANARY", "IN_PROGRESS", "POST_TEST_TRAFFIC_SHIFT", 4, 0.0);
        d.lifecycle_hook_details = Some(vec![hook]);
        let (_, line, pause, _) = in_progress(judge(&d, &cx(0, Seen::default())));
        let pause = pause.unwrap();
        assert_eq!((pause.hook_id.as_str(), pause.stage.as_str()), ("approve", "POST_TEST_TRAFFIC_SHIFT"));
        assert!(
            line.contains("waiting at POST_TEST_TRAFFIC_SHIFT for ContinueServiceDeployment (pause hook approve) until 2027-01-15T08:00:00Z; if nobody continues it, the hook's timeout action ROLLBACK applies"),
            "{line}"
        );
    }

    #[test]
    fn causes_most_specific_first() {
        let breaker = ServiceDeploymentCircuitBreaker::builder()
            .status(ServiceDeploymentRollbackMonitorsStatus::from("TRIGGERED"))
            .failure_count(5)
            .threshold(5)
            .build();
        let alarms = ServiceDeploymentAlarms::builder()
            .status(ServiceDeploymentRollbackMonitorsStatus::from("TRIGGERED"))
            .alarm_names("web-5xx")
            .alarm_names("web-latency")
            .triggered_alarm_names("web-5xx")
            .build();
        let hook = DeploymentLifecycleHookDetail::builder()
            .hook_id("smoke")
            .target_type(DeploymentLifecycleHookTargetType::from("AWS_LAMBDA"))
            .target_arn("arn:aws:lambda:us-east-1:123456789012:function:smoke")
            .status(DeploymentLifecycleHookStatus::from("FAILED"))
            .build();
        let rollback = |reason: &str| {
            Rollback::builder()
                .reason(reason)
                .service_revision_arn("arn:aws:ecs:us-east-1:123456789012:service-revision/prod/web/1")
                .build()
        };
        let base = sd("BLUE_GREEN", "ROLLBACK_IN_PROGRESS", "POST_TEST_TRAFFIC_SHIFT", 0, 0.0);
        let with = |change: &dyn Fn(&mut ServiceDeployment)| {
            let mut d = base.clone();
            change(&mut d);
            d
        };
        let cases: Vec<(ServiceDeployment, &[&str])> = vec![
            (
                with(&|d| {
                    d.deployment_circuit_breaker = Some(breaker.clone());
                    d.rollback = Some(rollback("Circuit breaker triggered"));
                }),
                &[
                    "Service deployment sd1 of web:8 (BLUE_GREEN) failed: the deployment circuit breaker tripped: 5 task(s) failed (threshold 5); rollback reason: Circuit breaker triggered. ECS is rolling back to service revision 1 (the service ran web:7 before this deploy) (ROLLBACK_IN_PROGRESS); watch it with: aws ecs describe-service-deployments --service-deployment-arns arn:aws:ecs:us-east-1:123456789012:service-deployment/prod/web/sd1",
                ],
            ),
            (
                with(&|d| d.alarms = Some(alarms.clone())),
                &["failed: the CloudWatch alarm \"web-5xx\" went into ALARM."],
            ),
            (
                with(&|d| d.lifecycle_hook_details = Some(vec![hook.clone()])),
                &[
                    "lifecycle hook smoke (AWS_LAMBDA arn:aws:lambda:us-east-1:123456789012:function:smoke) failed at POST_TEST_TRAFFIC_SHIFT",
                ],
            ),
            (
                with(&|d| {
                    d.status = Some(ServiceDeploymentStatus::Stopped);
                    d.status_reason = Some("Service deployment stopped by user through StopServiceDeployment.".into());
                }),
                &[
                    "was stopped: it was stopped by a StopServiceDeployment request",
                    "ECS did not roll it back: the service stays on web:8",
                ],
            ),
            (
                with(&|d| {
                    d.status = Some(ServiceDeploymentStatus::RollbackSuccessful);
                    d.rollback = Some(rollback("Alarm"));
                }),
                &[
                    "failed: rollback reason: Alarm. ECS rolled back to service revision 1 (the service ran web:7 before this deploy).",
                ],
            ),
            (
                with(&|d| {
                    d.status = Some(ServiceDeploymentStatus::RollbackFailed);
                    d.status_reason = Some("tasks failed".into());
                }),
                &["ROLLBACK FAILED — ", "may be running a mix of revisions", "such as web:7", "ECS says: tasks failed"],
            ),
            (
                with(&|d| d.status = Some(ServiceDeploymentStatus::StopRequested)),
                &["is being stopped. ECS is stopping it without a rollback"],
            ),
        ];
        for (d, words) in cases {
            let message = failed(judge(&d, &cx(0, Seen::default())));
            for w in words {
                assert!(message.contains(w), "{message:?} lacks {w:?}");
            }
        }
    }

    #[test]
    fn a_rollback_asked_for_succeeds_when_ecs_rolled_back() {
        let cases = [
            (
                "ROLLBACK_REQUESTED",
                "progress",
                "Rolling back service deployment sd1 of web:8 to web:7: status ROLLBACK_REQUESTED",
            ),
            ("ROLLBACK_IN_PROGRESS", "progress", "status ROLLBACK_IN_PROGRESS"),
            ("ROLLBACK_SUCCESSFUL", "success", ""),
            ("ROLLBACK_FAILED", "failed", "ROLLBACK FAILED"),
            ("SUCCESSFUL", "failed", "finished before the rollback took effect: the service runs web:8"),
            ("STOPPED", "failed", "was stopped"),
        ];
        for (status, expected, words) in cases {
            let (got, text) = match judge_rollback(&sd("ROLLING", status, "SCALE_UP", 1, 0.0), &cx(0, Seen::default()))
            {
                Verdict::Succeeded { .. } => ("success", String::new()),
                Verdict::InProgress { line, .. } => ("progress", line),
                Verdict::Failed { message, .. } => ("failed", message),
            };
            assert_eq!(got, expected, "{status}");
            assert!(text.contains(words), "{status}: {text}");
        }
    }

    #[test]
    fn early_success_is_success_with_a_note() {
        let mut d = sd("ROLLING", "SUCCESSFUL", "CLEAN_UP", 4, 0.0);
        d.source_service_revisions = Some(vec![ServiceRevisionSummary::builder().running_task_count(2).build()]);
        match judge(&d, &cx(0, Seen::default())) {
            Verdict::Succeeded { notes } => {
                assert!(notes[0].contains("2 task(s) of the previous revision"), "{notes:?}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn timeouts_fit_the_strategy() {
        let (m, d) = (60, 1440);
        let rolling = config("ROLLING");
        assert_eq!(minimum_minutes(Some(&rolling)), 0);
        assert_eq!(minimum_minutes(Some(&config("BLUE_GREEN"))), 60);
        assert_eq!(minimum_minutes(Some(&config("CANARY"))), 15 + 60);
        assert_eq!(minimum_minutes(Some(&config("LINEAR"))), 3 * 5 + 60);
        assert_eq!(minimum_minutes(None), 0);
        assert_eq!(timeout_minutes(None, m, d, Some(&rolling)), (60, None));
        let (minutes, note) = timeout_minutes(None, m, d, Some(&config("CANARY")));
        assert_eq!(minutes, 105);
        assert!(note.unwrap().contains("bakes for 75 min, plus 30 min"));
        let (minutes, note) = timeout_minutes(Some(20), m, d, Some(&config("BLUE_GREEN")));
        assert_eq!(minutes, 20);
        assert!(note.unwrap().contains("shorter than the 60 min"));
        assert_eq!(timeout_minutes(Some(90), m, d, Some(&config("BLUE_GREEN"))), (90, None));
        let huge = DeploymentConfiguration::builder()
            .strategy(DeploymentStrategy::BlueGreen)
            .bake_time_in_minutes(1440)
            .build();
        let (minutes, note) = timeout_minutes(None, m, d, Some(&huge));
        assert_eq!(minutes, 1440);
        assert!(note.unwrap().contains("may not finish"));
        let defaults = DeploymentConfiguration::builder().strategy(DeploymentStrategy::Linear).build();
        assert_eq!(minimum_minutes(Some(&defaults)), 9 * 6);
    }
}
