//! The words of every report, and its output variables: one renderer for one target or ten. One target keeps
//! the sentences (and variable names) a single-service action always had; several get a line each, and
//! variables prefixed with each service's name.

use aws_sdk_ecs::types::ContainerImage;

use super::apply::Fix;
use super::decide::{Decision, Why};
use super::plan::{Move, Plan};
use crate::clock::iso8601;
use crate::config::Target;
use crate::error::FailureKind;
use crate::judge::deployment::Pause;
use crate::report::Success;
use crate::text::{family_and_revision, short_arn, variable_name};
use crate::token::{Op, State, Tracker};

/// What every report of an action is written from.
pub struct Summary<'a> {
    pub t: &'a Tracker,
    pub targets: &'a [Target],
    /// One `service` (not `services`): the single-service variable names only.
    pub single: bool,
}

/// Per target: its image digests (the service revision, and each container's image and digest), or why not.
pub type Digests = Vec<Option<Result<(String, Vec<ContainerImage>), String>>>;

impl Summary<'_> {
    fn one(&self) -> bool {
        self.t.t.len() == 1
    }

    fn name(&self, i: usize) -> &str {
        short_arn(&self.targets[i].service)
    }

    fn rev(&self, i: usize) -> String {
        self.t.revision(i, false, self.targets).unwrap_or_else(|| "(unknown revision)".into())
    }

    fn prev(&self, i: usize) -> Option<String> {
        self.t.revision(i, true, self.targets)
    }

    /// The revision a target runs at the end: back on `prev` after a rollback, else `rev`.
    fn now_runs(&self, i: usize) -> String {
        match self.t.t[i].state() {
            State::Back | State::Undoing | State::Reverting => self.prev(i).unwrap_or_else(|| self.rev(i)),
            _ => self.rev(i),
        }
    }

    fn state_word(&self, i: usize) -> &'static str {
        match (self.t.t[i].state(), self.t.op) {
            (State::Moving, Op::Rollback) => "rolling back",
            (State::Moving, _) => "deploying",
            (State::Done, _) => "succeeded",
            (State::Stopped, _) => "STOPPED",
            (State::Undoing, _) => "rolling back",
            (State::Reverting, _) => "reverting to its previous revision",
            (State::Back, _) => "rolled back",
            (State::BackFailed, _) => "rollback FAILED",
            (State::Failed, _) => "FAILED",
            (State::Applying | State::Returning | State::Stopping | State::Continuing, _) => "announced",
            (State::Queued, _) => "waits for the beforeDeploy task",
        }
    }

    /// One line per target: its state and, when looked at, what ECS said.
    pub fn status_lines(&self, lines: &[Option<String>]) -> String {
        (0..self.t.t.len())
            .map(|i| {
                let place =
                    self.targets.get(i).and_then(|t| t.access.describe()).map(|p| format!("{p}; ")).unwrap_or_default();
                let head = format!("{} ({place}{}): {}", self.name(i), self.rev(i), self.state_word(i));
                match lines.get(i).and_then(Option::as_ref) {
                    Some(line) => format!("{head}: {line}"),
                    None => head,
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The first report: what each target's move started (`headlines`), and how it is followed.
    pub fn started(
        &self,
        headlines: &[String],
        strategies: &[&str],
        notes: &[Vec<String>],
        extra: &[String],
        timeout_note: Option<&str>,
        follow: bool,
    ) -> String {
        let mut out = Vec::new();
        if self.one() {
            let following =
                match (self.t.t[0].state(), self.t.deployment_arn(0, self.targets), self.t.t[0].deployment_id()) {
                    (State::Moving, Some(sd), _) if !matches!(self.t.op, Op::Continue) => {
                        format!("following {} service deployment {}", strategies[0], short_arn(&sd))
                    }
                    (State::Moving, None, Some(dep)) => format!("following deployment {dep}"),
                    _ => "following it".to_owned(),
                };
            out.push(if follow && self.t.t[0].state().moving() {
                format!("{}; {following} (timeout {} min).", headlines[0], self.t.timeout)
            } else {
                format!("{}.", headlines[0])
            });
            if let Some(note) = timeout_note.filter(|_| follow) {
                out.push(note.to_owned());
            }
            out.extend(notes.first().into_iter().flatten().cloned());
        } else {
            let verb = match self.t.op {
                Op::Release => "Released to",
                Op::Promote => "Promoted to",
                Op::Rollback => "Rolling back",
                Op::Continue => "Continued",
            };
            let n = self.t.t.len();
            out.push(if follow && self.t.t.iter().any(|s| s.state().moving()) {
                format!("{verb} {n} services; following them together (timeout {} min).", self.t.timeout)
            } else {
                format!("{verb} {n} services.")
            });
            if let Some(note) = timeout_note.filter(|_| follow) {
                out.push(note.to_owned());
            }
            for (i, headline) in headlines.iter().enumerate() {
                out.push(format!("{}: {headline}", self.name(i)));
                out.extend(notes.get(i).into_iter().flatten().map(|l| format!("  {l}")));
            }
        }
        out.extend(extra.iter().cloned());
        out.join("\n")
    }

    /// The announcement (report first, then change): what each target is about to get. Nothing changed yet.
    pub fn announcement(&self, plan: &Plan, notes: &[Vec<String>], extra: &[String]) -> String {
        let lines: Vec<String> = plan
            .targets
            .iter()
            .zip(self.targets)
            .map(|(tp, target)| {
                let rev = tp.rev.as_deref().map(short_arn).unwrap_or("?");
                let running = short_arn(&tp.running);
                match &tp.mv {
                    Move::Release(r) => {
                        let revision = &plan.revisions[*r];
                        let family = revision.base.td.family().unwrap_or("?");
                        match &revision.file {
                            Some(file) => {
                                let ran = family_and_revision(&tp.running).0;
                                let new_family = if ran == family {
                                    String::new()
                                } else {
                                    format!("; a new family for this service, which ran family {ran}")
                                };
                                format!(
                                    "About to register a new revision of {family} from {file} (the service ran \
                                     {running}{new_family}) and update {}",
                                    target.describe()
                                )
                            }
                            None => format!(
                                "About to register a new revision of {family} (from {}) and update {}",
                                revision.source,
                                target.describe()
                            ),
                        }
                    }
                    Move::Update { force: true, revert: false, .. } => {
                        format!("About to deploy {running} again on {} ({})", target.describe(), tp.why)
                    }
                    Move::Update { to, revert: false, .. } => format!(
                        "About to promote {} to {} (it ran {running}; nothing registered)",
                        short_arn(to),
                        target.describe()
                    ),
                    Move::Update { to, revert: true, .. } => format!(
                        "About to roll back {} from {running} to {} (the task definition only: other service \
                         settings stay as they are)",
                        target.describe(),
                        short_arn(to)
                    ),
                    Move::Stop { sd } => format!(
                        "About to ask ECS to roll back service deployment {} of {rev} (StopServiceDeployment ROLLBACK)",
                        short_arn(sd)
                    ),
                    Move::Continue { sd, hook, stage } => format!(
                        "About to continue service deployment {} of {rev} at pause hook {hook} ({stage})",
                        short_arn(sd)
                    ),
                    Move::Adopt { .. } | Move::Done => tp.why.clone(),
                    Move::Failed(message) => message.clone(),
                }
            })
            .collect();
        let mut out = Vec::new();
        if self.one() {
            out.push(format!("{}; the next job finds out how it went.", lines[0]));
            out.extend(notes.first().into_iter().flatten().cloned());
        } else {
            out.push(format!("About to change {} services; the next job finds out how it went.", self.t.t.len()));
            for (i, line) in lines.iter().enumerate() {
                out.push(format!("{}: {line}", self.name(i)));
                out.extend(notes.get(i).into_iter().flatten().map(|l| format!("  {l}")));
            }
        }
        out.extend(extra.iter().cloned());
        out.join("\n")
    }

    /// What each target's move started, as a job that finds announced changes made tells it (a target that
    /// was not announced: where it stands).
    pub fn headlines(&self) -> Vec<String> {
        (0..self.t.t.len())
            .map(|i| {
                let target = self.targets[i].describe();
                let sd = self.t.deployment_arn(i, self.targets).map(|a| short_arn(&a).to_owned()).unwrap_or_default();
                let (rev, prev) = (self.rev(i), self.prev(i).unwrap_or_else(|| "(unknown revision)".into()));
                match (self.t.op, self.t.t[i].state()) {
                    (_, State::Failed) => "not changed".to_owned(),
                    (_, State::Done) => format!("Nothing new to deploy: {target} already runs {rev}"),
                    (Op::Release, _) if rev == prev => format!("Forced a new deployment of {rev} on {target}"),
                    (Op::Release, _) => format!("Registered {rev} (from {prev}) and updated {target}"),
                    (Op::Promote, _) => format!("Promoted {rev} to {target} (it ran {prev}; nothing registered)"),
                    (Op::Rollback, State::Undoing) => {
                        format!(
                            "Asked ECS to roll back service deployment {sd} of {rev} (StopServiceDeployment ROLLBACK)"
                        )
                    }
                    (Op::Rollback, _) => format!(
                        "Rolled back {target} from {rev} to {prev} (the task definition only: other service settings \
                         stay as they are)"
                    ),
                    (Op::Continue, _) => format!("Continued service deployment {sd} of {rev}"),
                }
            })
            .collect()
    }

    /// The rollbacks a look starts, announced.
    pub fn rollbacks_announced(&self, fixes: &[Fix]) -> String {
        let list: Vec<String> = fixes
            .iter()
            .map(|f| match *f {
                Fix::Stop(i) => format!("{} (StopServiceDeployment ROLLBACK)", self.name(i)),
                Fix::Revert(i) => format!(
                    "{} (UpdateService back to {})",
                    self.name(i),
                    self.prev(i).unwrap_or_else(|| "its previous revision".into())
                ),
            })
            .collect();
        format!("About to roll back: {}; the next job finds out how it went.", list.join(", "))
    }

    /// A look that ends nothing: where each target stands.
    pub fn progress(&self, d: &Decision, fixes: &[String]) -> String {
        let left = ((self.t.deadline - crate::clock::now()).max(0) + 59) / 60;
        let mut text = if let (Some(failure), true) = (&self.t.failed, self.t.back.is_some()) {
            let back_left = ((self.t.back.unwrap_or(0) - crate::clock::now()).max(0) + 59) / 60;
            format!(
                "{} failed ({}); rolling the services back (atomic), timeout in {back_left} min:\n{}",
                self.name(failure.0),
                crate::text::clip(&failure.1, 200),
                self.status_lines(&d.lines)
            )
        } else if self.one() {
            let line = d.lines[0].clone().unwrap_or_else(|| format!("Following {}", self.rev(0)));
            format!("{line}; timeout in {left} min.")
        } else {
            format!("Following {} services; timeout in {left} min.\n{}", self.t.t.len(), self.status_lines(&d.lines))
        };
        for line in fixes {
            text.push('\n');
            text.push_str(line);
        }
        text
    }

    /// `wait: "paused"`: every target waits at a pause hook (or is done).
    pub fn paused(&self, d: &Decision) -> Success {
        let mut variables = Vec::new();
        let mut lines = Vec::new();
        for i in 0..self.t.t.len() {
            let prefix = self.prefix(i);
            let sd = self.t.deployment_arn(i, self.targets).unwrap_or_default();
            let td = self.t.revision_arn(i, false, self.targets).unwrap_or_default();
            let strategy = d.strategies.get(i).cloned().unwrap_or_else(|| "ROLLING".into());
            let mut vars = vec![("ServiceDeploymentArn".to_owned(), sd.clone()), ("TaskDefinitionArn".to_owned(), td)];
            vars.push(("Strategy".into(), strategy));
            match &d.pauses[i] {
                Some(pause) => {
                    vars.push(("HookId".into(), pause.hook_id.clone()));
                    vars.push(("LifecycleStage".into(), pause.stage.clone()));
                    if let Some(expires) = pause.expires_at {
                        vars.push(("HookExpiresAt".into(), iso8601(expires)));
                    }
                    lines.push(self.pause_line(i, pause, &sd));
                }
                None => lines.push(format!("{} ({}): succeeded before any pause", self.name(i), self.rev(i))),
            }
            variables.extend(self.named(&prefix, vars));
        }
        let how = if self.one() {
            "Continue it from a later action with {\"action\": \"continue\", \"serviceDeploymentArn\": \
             \"#{<namespace>.ServiceDeploymentArn}\", \"hookId\": \"#{<namespace>.HookId}\"}, or roll it back with \
             {\"action\": \"rollback\"}."
        } else {
            "Continue them from a later action with {\"action\": \"continue\"} and the same services (each one's \
             waiting hook), or roll them back with {\"action\": \"rollback\"}."
        };
        let last =
            if self.one() { format!("\nLast look: {}", d.lines[0].clone().unwrap_or_default()) } else { String::new() };
        let summary = format!("{}\n{how}{last}", lines.join("\n"));
        Success { summary, external_id: self.external_id(0), variables }
    }

    fn pause_line(&self, i: usize, pause: &Pause, sd: &str) -> String {
        let head = format!("Service deployment {} of {} is {}.", short_arn(sd), self.rev(i), pause.describe());
        if self.one() { head } else { format!("{}: {head}", self.name(i)) }
    }

    /// The final success, with each target's digests and notes, and the clean-up's lines.
    pub fn succeeded(&self, d: &Decision, digests: &Digests, cleanup: &[String]) -> Success {
        let checks = self.t.polls + 1;
        let mut lines = Vec::new();
        if self.one() {
            lines.push(self.one_success(d, checks));
            if self.targets[0].access.describe().is_some() {
                lines.push(format!("On {}.", self.targets[0].describe()));
            }
        } else {
            let verb = if self.t.op == Op::Rollback { "rolled back" } else { "succeeded" };
            lines.push(format!("All {} services {verb} ({checks} checks).", self.t.t.len()));
            lines.push(self.status_lines(&d.lines));
        }
        let mut variables = Vec::new();
        for i in 0..self.t.t.len() {
            let mut vars = self.target_variables(i, d);
            match digests.get(i).and_then(Option::as_ref) {
                Some(Ok((revision, images))) => {
                    vars.push(("ServiceRevisionArn".into(), revision.clone()));
                    for image in images {
                        let name = image.container_name().unwrap_or("?");
                        let shown = image.image().unwrap_or("?");
                        let prefix = if self.one() { String::new() } else { format!("{}: ", self.name(i)) };
                        match image.image_digest() {
                            Some(digest) => {
                                vars.push((variable_name(&format!("ImageDigest_{name}")), digest.to_owned()));
                                lines.push(format!("{prefix}{name}: {shown} = {digest}"));
                            }
                            None => lines.push(format!("{prefix}{name}: {shown} (ECS resolved no digest)")),
                        }
                    }
                }
                Some(Err(e)) => lines.push(format!("(image digests unavailable: {e})")),
                None => {}
            }
            lines.extend(d.notes[i].iter().cloned());
            variables.extend(self.named(&self.prefix(i), vars));
        }
        lines.extend(cleanup.iter().cloned());
        Success { summary: lines.join("\n"), external_id: self.external_id(0), variables }
    }

    fn one_success(&self, d: &Decision, checks: u32) -> String {
        let sd = self.t.deployment_arn(0, self.targets).map(|a| short_arn(&a).to_owned());
        let strategy = d.strategies.first().cloned().unwrap_or_else(|| "ROLLING".into());
        let tasks = d.tasks.first().copied().unwrap_or((0, 0));
        match (self.t.t[0].state(), sd) {
            (State::Back, Some(sd)) if self.t.t[0].0 == sd && d.undone.first() == Some(&true) => format!(
                "Rolled back to {}: ECS rolled back service deployment {sd} of {} ({checks} checks).",
                self.now_runs(0),
                self.rev(0)
            ),
            (State::Back, Some(sd)) => format!(
                "Rolled back to {}: service deployment {sd} ({strategy}) succeeded: {} of {} tasks running ({checks} checks).",
                self.now_runs(0),
                tasks.0,
                tasks.1
            ),
            (_, Some(sd)) => format!(
                "Service deployment {sd} of {} ({strategy}) succeeded: {} of {} tasks running ({checks} checks).",
                self.rev(0),
                tasks.0,
                tasks.1
            ),
            (_, None) => format!(
                "{} on service {} ({checks} checks).",
                d.lines[0].clone().unwrap_or_else(|| format!("{} runs", self.rev(0))),
                self.name(0)
            ),
        }
    }

    /// The variables of a target at the end of an action (before digests).
    fn target_variables(&self, i: usize, d: &Decision) -> Vec<(String, String)> {
        let slot = &self.t.t[i];
        let runs = self.now_runs(i);
        let mut vars = task_definition_variables(&format!("{}:task-definition/{runs}", self.t.prefix(i, self.targets)));
        if let Some(dep) = slot.deployment_id() {
            vars.push(("DeploymentId".into(), dep));
        }
        if let Some(sd) = self.t.deployment_arn(i, self.targets) {
            vars.push(("ServiceDeploymentArn".into(), sd));
        }
        match (self.t.op, slot.state()) {
            (Op::Rollback, _) | (_, State::Back) => {
                if let Some(from) = self.t.revision_arn(i, false, self.targets) {
                    vars.push(("RolledBackFrom".into(), from));
                }
            }
            _ => {
                if let Some(prev) = self.t.revision_arn(i, true, self.targets).filter(|p| *p != vars[0].1) {
                    vars.push(("PreviousTaskDefinitionArn".into(), prev));
                }
            }
        }
        if let Some(strategy) = d.strategies.get(i).filter(|s| !s.is_empty()) {
            vars.push(("Strategy".into(), strategy.clone()));
        }
        vars
    }

    /// The variables when the action ends without a look (`wait: false`, or nothing to follow).
    pub fn variables_now(&self) -> Vec<(String, String)> {
        let d = Decision::empty(self.t.clone());
        (0..self.t.t.len()).flat_map(|i| self.named(&self.prefix(i), self.target_variables(i, &d))).collect()
    }

    /// A target's variables under its prefix, and, for one target, under the single-service names too.
    fn named(&self, prefix: &str, vars: Vec<(String, String)>) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if !self.single {
            out.extend(vars.iter().map(|(k, v)| (format!("{prefix}_{k}"), v.clone())));
        }
        if self.one() {
            out.extend(vars);
        }
        out
    }

    /// `<service>` (characters outside `[A-Za-z0-9@_-]` as `_`), or `<cluster>_<service>` when two share a name.
    fn prefix(&self, i: usize) -> String {
        let service = self.name(i);
        let shared = (0..self.targets.len()).any(|j| j != i && self.name(j) == service);
        if shared {
            variable_name(&format!("{}_{service}", short_arn(&self.targets[i].cluster)))
        } else {
            variable_name(service)
        }
    }

    /// The task definition a single target ends on (the report's external execution id).
    pub fn external_id(&self, i: usize) -> Option<String> {
        self.one().then(|| format!("{}:task-definition/{}", self.t.prefix(i, self.targets), self.now_runs(i)))
    }

    /// The one failure report: its CodePipeline type and text.
    pub fn failed(&self, d: &Decision, why: &Why, fixes: &[String]) -> (FailureKind, String) {
        let failure = self.t.failed.clone();
        let kind = match failure.as_ref().map(|f| f.2) {
            Some('P') => FailureKind::Permission,
            Some('C') => FailureKind::Configuration,
            Some('S') => FailureKind::SystemUnavailable,
            _ => FailureKind::JobFailed,
        };
        let text = match why {
            Why::TimedOut { left } => self.timed_out(d, *left, fixes),
            Why::RollbackTimedOut => format!(
                "The rollback of the services did not finish within {} minutes; what still goes back is left to \
                 finish on its own.\n{}",
                self.t.timeout,
                self.end_states(d)
            ),
            Why::Failure if self.one() && self.t.back.is_none() => {
                let i = failure.as_ref().map(|f| f.0).unwrap_or(0);
                d.failures
                    .get(i)
                    .cloned()
                    .flatten()
                    .or(failure.map(|f| f.1))
                    .unwrap_or_else(|| "the deployment failed".into())
            }
            Why::Failure => self.final_failure(d),
        };
        (kind, text)
    }

    fn timed_out(&self, d: &Decision, left: bool, fixes: &[String]) -> String {
        if !self.one() {
            let verb = if left { "were left running (onTimeout: \"leave\")" } else { "were rolled back" };
            return format!(
                "The services did not all finish within {} minutes; those still going {verb}.\n{}\n{}",
                self.t.timeout,
                fixes.join("\n"),
                self.status_lines(&d.lines)
            );
        }
        let line = d.lines[0].clone().unwrap_or_default();
        let Some(sd) = self.t.deployment_arn(0, self.targets) else {
            return format!(
                "Deployment {} of {} timed out after {} minutes. Raise \"timeoutMinutes\" if the service needs \
                 longer.\nLast look: {line}",
                self.t.t[0].deployment_id().unwrap_or_default(),
                self.rev(0),
                self.t.timeout
            );
        };
        let head = format!(
            "Service deployment {} of {} did not finish within {} minutes",
            short_arn(&sd),
            self.rev(0),
            self.t.timeout
        );
        if let Some(pause) = &d.pauses[0] {
            return format!(
                "{head}: it is {}. This action does not stop a deployment that waits at a pause hook: the hook's own \
                 timeout decides. Continue it (aws ecs continue-service-deployment --service-deployment-arn {sd} \
                 --hook-id {} --action CONTINUE) or roll it back, or raise timeoutMinutes.\nLast look: {line}",
                pause.describe(),
                pause.hook_id
            );
        }
        if left {
            return format!(
                "{head}; it was left running (onTimeout: \"leave\") and may still finish or fail on its own: aws ecs \
                 describe-service-deployments --service-deployment-arns {sd}\nLast look: {line}"
            );
        }
        match self.t.t[0].state() {
            State::Undoing | State::Back => {
                let to = self.prev(0).map(|p| format!(" (the service ran {p} before this deploy)")).unwrap_or_default();
                format!(
                    "{head}, so it was rolled back (onTimeout: \"rollback\"): StopServiceDeployment with stopType \
                     ROLLBACK was accepted and ECS is returning the service to its last completed deployment{to}. \
                     Watch it with: aws ecs describe-service-deployments --service-deployment-arns {sd}\nLast look: {line}"
                )
            }
            _ => format!(
                "{head} and rolling it back failed ({}); roll it back by hand: aws ecs stop-service-deployment \
                 --service-deployment-arn {sd} --stop-type ROLLBACK\nLast look: {line}",
                fixes.join("; ")
            ),
        }
    }

    /// Several targets (or a rollback phase): the failed one with its cause, then how every other one ended.
    fn final_failure(&self, d: &Decision) -> String {
        let (i, cause) = self.t.failed.clone().map(|f| (f.0, f.1)).unwrap_or((0, "it failed".into()));
        let cause = d.failures.get(i).cloned().flatten().unwrap_or(cause);
        let mut text = if self.t.op == Op::Rollback {
            format!("The rollback of service {} failed: {cause}", self.name(i))
        } else {
            format!("Service {} failed: {cause}", self.name(i))
        };
        match self.t.t.get(i).map(|s| s.state()) {
            Some(State::Back) if self.t.op != Op::Rollback => {
                text.push_str("\nECS rolled it back to its previous revision.")
            }
            Some(State::BackFailed) if self.t.op != Op::Rollback => {
                text.push_str("\nIts rollback failed: check it by hand.")
            }
            _ => {}
        }
        text.push('\n');
        text.push_str(&self.end_states(d));
        if !self.t.atomic && self.t.t.len() > 1 && self.t.op != Op::Rollback {
            text.push_str("\nWithout \"atomic\": true, the other services are not rolled back.");
        }
        text
    }

    /// How each target other than the failed one ended, grouped, with the revision each runs.
    fn end_states(&self, d: &Decision) -> String {
        let failed = self.t.failed.as_ref().map(|f| f.0);
        let mut out = Vec::new();
        for (state, what) in [
            (State::Back, "Rolled back to their previous revisions (atomic)"),
            (State::BackFailed, "Rollback failed, check by hand"),
            (State::Done, "Went through, now on the new release"),
            (State::Moving, "Still deploying, left as they are"),
            (State::Undoing, "Still rolling back, left to finish"),
            (State::Reverting, "Still going back, left to finish"),
            (State::Stopped, "Stopped without a rollback, on the new release"),
            (State::Failed, "Failed too"),
        ] {
            let list: Vec<String> = (0..self.t.t.len())
                .filter(|j| Some(*j) != failed && self.t.t[*j].state() == state)
                .map(|j| format!("{} ({})", self.name(j), self.now_runs(j)))
                .collect();
            if !list.is_empty() {
                let what = if state == State::Back && !self.t.atomic { "Rolled back" } else { what };
                out.push(format!("{what}: {}.", list.join(", ")));
            }
        }
        let details: Vec<String> = d
            .lines
            .iter()
            .enumerate()
            .filter(|(j, l)| Some(*j) != failed && l.is_some())
            .map(|(j, l)| format!("{}: {}", self.name(j), l.clone().unwrap_or_default()))
            .collect();
        if !details.is_empty() {
            out.push(format!("Last look:\n{}", details.join("\n")));
        }
        out.join("\n")
    }
}

/// `TaskDefinitionArn`, `TaskDefinitionFamily`, `TaskDefinitionRevision`.
pub fn task_definition_variables(arn: &str) -> Vec<(String, String)> {
    let (family, revision) = family_and_revision(arn);
    vec![
        ("TaskDefinitionArn".into(), arn.to_owned()),
        ("TaskDefinitionFamily".into(), family),
        ("TaskDefinitionRevision".into(), revision),
    ]
}
