//! The beforeDeploy step: a one-off task (migrations, say) on the release's new revision, after it is
//! registered and before any service moves. Planned with the release ([`plan`], pure: the RunTask request),
//! started by the first job ([`start`]), followed by the next jobs ([`follow`]) like a deployment, and judged
//! ([`crate::judge::task`]): when every task exited 0, the services move; otherwise the job fails with the
//! exit code or stop reason and the last lines of the container's log, and no service was updated.
//!
//! One task per job: every delivery of the job's RunTask has the same client token (ECS starts it once), and
//! the token says which tasks are the job's; a stage retry (a new job) runs it again.

use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, ContainerOverride, KeyValuePair, NetworkConfiguration, Service, TaskDefinition,
};
use serde_json::Value;
use tracing::{error, info, warn};

use super::announce::{self, Vouched};
use super::plan::{Move, Plan};
use super::summary::Summary;
use super::{Ctx, Origin, apply};
use crate::aws::ecs::{self, TaskRequest};
use crate::aws::logs;
use crate::clock::{now, span};
use crate::config::before_deploy::BeforeDeploy;
use crate::config::{Params, Target};
use crate::error::{Error, FailureKind};
use crate::judge::task::{self, Deciding, TaskVerdict};
use crate::report::{Outcome, Progress};
use crate::text::{clip, family_and_revision, short_arn};
use crate::token::{State, TaskRun, TaskState, Tracker};

/// The revision the task runs.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// The plan's new revision (by index), registered before the task starts.
    Revision(usize),
    /// An existing revision (ARN): a promotion's, or `beforeDeploy.taskDefinition` run as it is.
    Existing(String),
}

/// What the beforeDeploy step will do (pure data; the dry run prints it).
#[derive(Debug, Clone)]
pub struct TaskPlan {
    /// RunTask, its task definition filled in once the revision is registered.
    pub request: TaskRequest,
    pub source: Source,
    /// The family of the revision it runs.
    pub family: String,
    pub container: String,
    pub essential: Vec<String>,
    pub minutes: u32,
    /// The cluster as written (`beforeDeploy.cluster`), empty for the first target's.
    pub cluster_written: String,
    /// The environment names it sets (never their values).
    pub environment: Vec<String>,
}

/// `startedBy` for the job's tasks: letters, digits, `-`, `_` and `/` only, at most 128 characters.
pub fn started_by(job: &str) -> String {
    let job: String =
        job.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' }).collect();
    clip(&format!("codepipeline-job/{job}"), 127).trim_end_matches('…').to_owned()
}

/// Plans the task: which container decides, how it is placed (the first target's service: its network
/// configuration, launch type or capacity provider strategy and platform version, unless
/// `networkConfiguration` says otherwise), and the request, named after the job. Pure.
pub fn plan(
    before: &BeforeDeploy,
    first: (&Target, &Service),
    td: &TaskDefinition,
    source: Source,
    job: &str,
) -> Result<TaskPlan, Error> {
    let names: Vec<&str> = td.container_definitions().iter().filter_map(|c| c.name()).collect();
    let family = td.family().unwrap_or_default().to_owned();
    let container = match (&before.container, names.as_slice()) {
        (Some(name), _) if names.contains(&name.as_str()) => name.clone(),
        (Some(name), _) => {
            return Err(Error::Plan(format!(
                "beforeDeploy.container {name:?} is not a container of {family}; its containers are: {}",
                names.join(", ")
            )));
        }
        (None, [one]) => (*one).to_owned(),
        (None, _) => {
            return Err(Error::Plan(format!(
                "beforeDeploy names no \"container\", and {family} has {}: {}; say which one's exit code decides",
                names.len(),
                names.join(", ")
            )));
        }
    };
    let essential = td
        .container_definitions()
        .iter()
        .filter(|c| c.essential() != Some(false))
        .filter_map(|c| c.name())
        .filter(|n| *n != container)
        .map(str::to_owned)
        .collect();
    let (target, service) = first;
    let network = match &before.network {
        Some(value) => Some(network(value)),
        None => service.network_configuration().cloned(),
    };
    let overrides = (before.command.is_some() || !before.environment.is_empty()).then(|| {
        ContainerOverride::builder()
            .name(&container)
            .set_command(before.command.clone())
            .set_environment((!before.environment.is_empty()).then(|| {
                before.environment.iter().map(|(k, v)| KeyValuePair::builder().name(k).value(v).build()).collect()
            }))
            .build()
    });
    let request = TaskRequest {
        cluster: before.cluster.clone().unwrap_or_else(|| target.cluster.clone()),
        task_definition: match &source {
            Source::Existing(arn) => arn.clone(),
            Source::Revision(_) => String::new(),
        },
        count: before.count as i32,
        launch_type: service.launch_type().cloned(),
        capacity_provider_strategy: service.capacity_provider_strategy().to_vec(),
        platform_version: service.platform_version().map(str::to_owned),
        network,
        started_by: started_by(job),
        group: clip(&format!("codepipeline-job:{job}"), 250),
        client_token: clip(job, 64),
        overrides,
    };
    Ok(TaskPlan {
        request,
        source,
        family,
        container,
        essential,
        minutes: before.timeout_minutes,
        cluster_written: before.cluster.clone().unwrap_or_default(),
        environment: before.environment.keys().cloned().collect(),
    })
}

/// `networkConfiguration` as written (validated by the config) in the SDK's form.
fn network(value: &Value) -> NetworkConfiguration {
    let vpc = &value["awsvpcConfiguration"];
    let strings = |key: &str| -> Option<Vec<String>> {
        vpc[key].as_array().map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect())
    };
    let built = AwsVpcConfiguration::builder()
        .set_subnets(strings("subnets"))
        .set_security_groups(strings("securityGroups"))
        .set_assign_public_ip(vpc["assignPublicIp"].as_str().map(AssignPublicIp::from))
        .build();
    NetworkConfiguration::builder().set_awsvpc_configuration(built.ok()).build()
}

impl TaskPlan {
    /// What the task will be, in words (the dry run and the announcement): never an environment value.
    pub fn describe(&self, revision: &str) -> Vec<String> {
        let r = &self.request;
        let placed = match (&r.launch_type, r.capacity_provider_strategy.as_slice()) {
            (Some(launch), _) => launch.as_str().to_owned(),
            (None, []) => "the cluster's default capacity provider strategy".to_owned(),
            (None, strategy) => format!(
                "capacity providers {}",
                strategy.iter().map(|s| s.capacity_provider()).collect::<Vec<_>>().join(", ")
            ),
        };
        let net = r
            .network
            .as_ref()
            .and_then(|n| n.awsvpc_configuration())
            .map(|v| format!(", subnets {}", v.subnets().join(", ")))
            .unwrap_or_default();
        let mut changes = Vec::new();
        if let Some(command) = r.overrides.as_ref().map(|o| o.command()).filter(|c| !c.is_empty()) {
            changes.push(format!("command {}", command.join(" ")));
        }
        if !self.environment.is_empty() {
            changes.push(format!("environment {} (values not shown)", self.environment.join(", ")));
        }
        let changes = if changes.is_empty() { String::new() } else { format!(" with {}", changes.join(" and ")) };
        let count = if r.count == 1 { "one task".to_owned() } else { format!("{} tasks", r.count) };
        vec![format!(
            "beforeDeploy: {count} of {revision} in cluster {} ({placed}{net}), container {}{changes}; the services \
             move only once {} exited 0, within {} min",
            r.cluster,
            self.container,
            if self.essential.is_empty() {
                format!("container {}", self.container)
            } else {
                format!("container {} and every essential container", self.container)
            },
            self.minutes
        )]
    }

    /// The token's record of the task, before it runs.
    fn run(&self, fams: &mut Vec<String>, targets: &[Target], rev: u32, started: i64) -> TaskRun {
        TaskRun {
            state: TaskState::Announced,
            cluster: self.cluster_written.clone(),
            ids: Vec::new(),
            fam: Tracker::family_index(fams, &self.family, targets),
            rev,
            container: self.container.clone(),
            essential: self.essential.clone(),
            count: self.request.count as u32,
            minutes: self.minutes,
            started,
        }
    }
}

/// The first job of a release (or promotion) with a beforeDeploy task: announce (report first, then change),
/// register the new revisions, start the task. The services wait for it ([`State::Queued`]).
#[allow(clippy::too_many_arguments)]
pub(super) async fn start(
    cx: &Ctx<'_>,
    origin: &Origin,
    params: &Params,
    services: &[Service],
    plan: &Plan,
    task_plan: &TaskPlan,
    notes: &[Vec<String>],
    extra: &[String],
) -> Result<Outcome, Error> {
    let targets = &params.targets;
    let mut tracker = apply::announced(cx.reaches(), params, plan, services, &origin.job, origin.tries);
    for slot in &mut tracker.t {
        if slot.state() == State::Applying {
            slot.set(State::Queued);
        }
    }
    let rev = match &task_plan.source {
        Source::Existing(arn) => family_and_revision(arn).1.parse().unwrap_or(0),
        Source::Revision(_) => 0,
    };
    let started = now();
    tracker.task = Some(task_plan.run(&mut tracker.fams, targets, rev, started));
    let view = Summary { t: &tracker, targets, single: params.single };
    let revision = match &task_plan.source {
        Source::Existing(arn) => short_arn(arn).to_owned(),
        Source::Revision(r) => format!("the new revision of {}", plan.revisions[*r].base.td.family().unwrap_or("?")),
    };
    let mut extra = extra.to_vec();
    extra.extend(task_plan.describe(&revision));
    if cx.protocol.on {
        let summary = view.announcement(plan, notes, &extra).replacen(
            "; the next job finds out how it went.",
            ", once the beforeDeploy task below succeeded; the next job follows the task.",
            1,
        );
        cx.checkpoint.step("announcing the beforeDeploy task (reporting to CodePipeline first)".to_owned());
        if let Vouched::No(outcome) = announce::vouch(cx.clients, &cx.job.id, &tracker, summary).await? {
            return Ok(outcome);
        }
        cx.checkpoint.fallback(Outcome::Reported("in progress: announced"));
    }
    cx.checkpoint.step("registering the new revisions and starting the beforeDeploy task".to_owned());
    let ran = register_and_run(cx, origin, plan, task_plan, &mut tracker).await;
    if cx.protocol.on {
        if let Err(e) = ran {
            error!(error = %e.message(), "the beforeDeploy task announced did not start; the next job reports it");
            cx.protocol.remember(&origin.job, &e);
        }
        return Ok(Outcome::Reported("in progress: the beforeDeploy task was started"));
    }
    ran?;
    let view = Summary { t: &tracker, targets, single: params.single };
    let summary = format!("{}\n{}", view.announcement(plan, notes, &extra), task_lines(&tracker, &[]));
    Ok(Outcome::InProgress(Progress {
        token: tracker.encode()?,
        summary: summary.replace("About to", "Will, once the beforeDeploy task succeeded,"),
        percent: 0,
        external_id: view.external_id(0),
    }))
}

/// Registers the plan's revisions (each once per job) and starts the task (once per job: its client token).
/// Writes the revisions and the tasks into the tracker.
async fn register_and_run(
    cx: &Ctx<'_>,
    origin: &Origin,
    plan: &Plan,
    task_plan: &TaskPlan,
    tracker: &mut Tracker,
) -> Result<(), Error> {
    let ecs = cx.ecs_of(0);
    let mut registered = Vec::new();
    for revision in &plan.revisions {
        let (arn, ..) = apply::register_once(ecs, &revision.base, &revision.edit, &origin.job).await?;
        registered.push(arn);
    }
    for (slot, tp) in tracker.t.iter_mut().zip(&plan.targets) {
        if let (State::Queued, Move::Release(r)) = (slot.state(), &tp.mv) {
            slot.3 = family_and_revision(&registered[*r]).1.parse().unwrap_or(0);
        }
    }
    let mut request = task_plan.request.clone();
    if let Source::Revision(r) = task_plan.source {
        request.task_definition = registered[r].clone();
    }
    if let Some(task) = tracker.task.as_mut() {
        task.rev = family_and_revision(&request.task_definition).1.parse().unwrap_or(0);
    }
    let started = ecs::run_task(ecs, &request).await?;
    if !started.failures.is_empty() || started.tasks.is_empty() {
        return Err(Error::Ended {
            kind: FailureKind::JobFailed,
            text: format!(
                "beforeDeploy: RunTask of {} in cluster {} started no task: {}. No service was updated.",
                short_arn(&request.task_definition),
                request.cluster,
                if started.failures.is_empty() { "ECS gave no reason".to_owned() } else { started.failures.join("; ") }
            ),
        });
    }
    let ids: Vec<String> = started.tasks.iter().map(|t| task::task_id(t).to_owned()).collect();
    info!(tasks = ?ids, task_definition = %request.task_definition, "started the beforeDeploy task");
    if let Some(task) = tracker.task.as_mut() {
        task.ids = ids;
        task.state = TaskState::Running;
    }
    Ok(())
}

/// The task's cluster: as written, or the first target's.
fn cluster(t: &Tracker, targets: &[Target]) -> String {
    match t.task.as_ref().map(|k| k.cluster.as_str()) {
        Some(c) if !c.is_empty() => c.to_owned(),
        _ => targets.first().map(|t| t.cluster.clone()).unwrap_or_default(),
    }
}

/// How many more looks a job takes for a task announced but not seen started, and how far apart.
const WAIT_LOOKS: usize = 3;
const WAIT_BETWEEN: std::time::Duration = std::time::Duration::from_secs(3);

/// A later job while the task runs: find it (when only announced), look at it, and act on the verdict.
pub(super) async fn follow(
    cx: &Ctx<'_>,
    params: &Params,
    mut t: Tracker,
    targets: &[Target],
) -> Result<Outcome, Error> {
    let ecs = cx.ecs_of(0);
    let cluster = cluster(&t, targets);
    let Some(run) = t.task.clone() else { return Err(Error::Plan("no beforeDeploy task to follow".into())) };
    if run.state == TaskState::Announced {
        cx.checkpoint.step(format!("finding the beforeDeploy task in cluster {cluster}"));
        let by = started_by(&t.job);
        let mut ids = ecs::tasks_started_by(ecs, &cluster, &by).await?;
        for _ in 0..WAIT_LOOKS {
            if !ids.is_empty() || cx.protocol.recall(&t.job).is_some() || !cx.checkpoint.has_time(WAIT_BETWEEN * 3) {
                break;
            }
            info!("the announced beforeDeploy task is not seen started yet; looking again");
            tokio::time::sleep(WAIT_BETWEEN).await;
            ids = ecs::tasks_started_by(ecs, &cluster, &by).await?;
        }
        if ids.is_empty() {
            if let Some((message, kind)) = cx.protocol.recall(&t.job) {
                return Err(Error::Ended { kind, text: message });
            }
            if t.tries >= 2 {
                return Err(Error::Ended {
                    kind: FailureKind::JobFailed,
                    text: format!(
                        "The beforeDeploy task (report first, then change) was announced twice and never seen started \
                         in cluster {cluster}. The function's log for this action's jobs (job_id {} and later) says \
                         why: most often a permission the function's role lacks (ecs:RunTask, iam:PassRole on the \
                         task's roles, ecs:RegisterTaskDefinition). No service was updated; fix the cause and retry \
                         the stage.",
                        t.job
                    ),
                });
            }
            warn!("the announced beforeDeploy task was not started; starting it under this job's own announcement");
            return again_from_the_start(cx, params, &t, targets).await;
        }
        if let Some(task) = t.task.as_mut() {
            task.ids = ids.into_iter().take(task.count as usize).collect();
            task.state = TaskState::Running;
        }
    }
    let run = t.task.clone().unwrap_or(run);
    cx.checkpoint.step(format!("checking the beforeDeploy task in cluster {cluster}"));
    let at = now();
    let (tasks, missing) = match ecs::describe_tasks(ecs, &cluster, &run.ids).await {
        Ok(found) => found,
        Err(e) if e.is_transient() && at < run.deadline() => {
            warn!(error = %e, "ECS did not answer this look at the task; looking again next time");
            return progress(&t, targets, params, vec![format!("ECS did not answer this look ({e}); checking again")]);
        }
        Err(e) => return Err(e),
    };
    let deciding = Deciding { container: &run.container, essential: &run.essential };
    match task::judge(&tasks, &missing, &deciding, at) {
        TaskVerdict::Going { lines } if at < run.deadline() => progress(&t, targets, params, lines),
        TaskVerdict::Going { lines } => timed_out(cx, &t, &cluster, &tasks, lines).await,
        TaskVerdict::Failed { why, logs_of } => {
            let given = given_values(&tasks);
            let text = failure_text(cx, &why, logs_of, &tasks, &given).await;
            Err(Error::Ended { kind: FailureKind::JobFailed, text })
        }
        TaskVerdict::Succeeded { lines } => move_services(cx, params, t, targets, &tasks, lines).await,
    }
}

/// The task announced was not started: the job starts it under its own announcement, as the first job would.
async fn again_from_the_start(
    cx: &Ctx<'_>,
    params: &Params,
    t: &Tracker,
    targets: &[Target],
) -> Result<Outcome, Error> {
    let origin = Origin { job: t.job.clone(), tries: t.tries.max(1) + 1 };
    let mut params = params.clone();
    params.targets = targets.to_vec();
    params.wait = super::started_wait(t);
    match t.op {
        crate::token::Op::Promote => super::promote(cx, params, &origin).await,
        _ => super::release(cx, params, &origin).await,
    }
}

/// The report while the task runs.
fn progress(t: &Tracker, targets: &[Target], params: &Params, lines: Vec<String>) -> Result<Outcome, Error> {
    let view = Summary { t, targets, single: params.single };
    Ok(Outcome::InProgress(Progress {
        token: t.encode()?,
        summary: task_lines(t, &lines),
        percent: super::decide::percent(t),
        external_id: view.external_id(0),
    }))
}

/// The task's lines, then what waits for it.
fn task_lines(t: &Tracker, lines: &[String]) -> String {
    let Some(run) = &t.task else { return String::new() };
    let mut out: Vec<String> = if lines.is_empty() {
        run.ids.iter().map(|id| format!("beforeDeploy task {id}: started")).collect()
    } else {
        lines.to_vec()
    };
    out.push(format!(
        "The services move once it succeeded (timeout {} min, {} left).",
        run.minutes,
        span(run.deadline() - now())
    ));
    out.join("\n")
}

/// The environment values the task was given (from its own overrides), to keep out of what is shown.
fn given_values(tasks: &[aws_sdk_ecs::types::Task]) -> Vec<String> {
    tasks
        .iter()
        .filter_map(|t| t.overrides())
        .flat_map(|o| o.container_overrides())
        .flat_map(|c| c.environment())
        .filter_map(|kv| kv.value().map(str::to_owned))
        .collect()
}

/// The task ran out of time: the job fails, and the task is stopped with a reason naming the job. With report
/// first, the failure is reported before StopTask.
async fn timed_out(
    cx: &Ctx<'_>,
    t: &Tracker,
    cluster: &str,
    tasks: &[aws_sdk_ecs::types::Task],
    lines: Vec<String>,
) -> Result<Outcome, Error> {
    let run = t.task.as_ref().expect("a task is followed");
    let running: Vec<String> =
        tasks.iter().filter(|k| k.last_status() != Some("STOPPED")).map(|k| task::task_id(k).to_owned()).collect();
    let text = format!(
        "beforeDeploy task did not finish within its timeout of {} min: {}. Stopping it (StopTask: {}). No service \
         was updated.",
        run.minutes,
        lines.join("; "),
        running.join(", ")
    );
    let reason = format!("codepipeline-ecs-deployer: beforeDeploy timed out after {} min (job {})", run.minutes, t.job);
    let stop = || async {
        for id in &running {
            match ecs::stop_task(cx.ecs_of(0), cluster, id, &reason).await {
                Ok(()) => info!(task = %id, "stopped the beforeDeploy task that timed out"),
                Err(e) => error!(task = %id, error = %e.message(), "could not stop the beforeDeploy task"),
            }
        }
    };
    let failure = Error::Ended { kind: FailureKind::JobFailed, text };
    if cx.protocol.on {
        let outcome = Outcome::Failed(failure);
        if let Vouched::No(outcome) = announce::report_first(cx.clients, &cx.job.id, &outcome).await? {
            return Ok(outcome);
        }
        stop().await;
        return Ok(Outcome::Reported("failed: the beforeDeploy task timed out and was stopped"));
    }
    stop().await;
    Err(failure)
}

/// The failure message: why, then the last lines of the container's log (or where its logs are).
async fn failure_text(
    cx: &Ctx<'_>,
    why: &str,
    logs_of: Option<(String, String)>,
    tasks: &[aws_sdk_ecs::types::Task],
    given: &[String],
) -> String {
    let head = format!("{why}. No service was updated.");
    let Some((id, container)) = logs_of else { return head };
    let Some(arn) = tasks.iter().find(|k| task::task_id(k) == id).and_then(|k| k.task_definition_arn()) else {
        return head;
    };
    cx.checkpoint.step("reading the last lines of the beforeDeploy task's log".to_owned());
    let td = match ecs::describe_task_definition(cx.ecs_of(0), arn).await {
        Ok(td) => td,
        Err(e) => return format!("{head}\nIts log could not be located: {}", e.message()),
    };
    let Some(definition) = td.td.container_definitions().iter().find(|c| c.name() == Some(container.as_str())) else {
        return head;
    };
    let region = crate::text::arn_region(arn).unwrap_or("us-east-1").to_owned();
    let place = match logs::place(definition, &id, &region) {
        Ok(place) => place,
        Err(where_) => return format!("{head}\n{where_}."),
    };
    let at = format!("{} in log group {}", place.stream, place.group);
    let reach = cx.reaches().target(0);
    match logs::last_lines(reach, &place, 20).await {
        Ok(lines) if lines.is_empty() => format!("{head}\nIts log stream {at} holds no lines."),
        Ok(lines) => {
            let budget = crate::text::MAX_FAILURE_MESSAGE.saturating_sub(head.len() + at.len() + 200);
            let kept = task::tail(&lines, given, budget);
            format!("{head}\nThe last {} lines of {at}:\n{}", kept.len(), kept.join("\n"))
        }
        Err(e) => format!("{head}\nIts log {at} could not be read: {}", e.message()),
    }
}

/// The task succeeded: the services waiting for it move, announced first (report first, then change).
async fn move_services(
    cx: &Ctx<'_>,
    params: &Params,
    mut t: Tracker,
    targets: &[Target],
    tasks: &[aws_sdk_ecs::types::Task],
    lines: Vec<String>,
) -> Result<Outcome, Error> {
    let ecs = cx.ecs_of(0);
    // What each waiting target moves to: a release's revision registered after the announcement is found by
    // the task's own revision (its family), or among its family's newest (registered by this job).
    let task_td = tasks.first().and_then(|k| k.task_definition_arn()).unwrap_or_default().to_owned();
    let queued: Vec<usize> = (0..t.t.len()).filter(|i| t.t[*i].state() == State::Queued).collect();
    for &i in &queued {
        if t.t[i].3 != 0 {
            continue;
        }
        let family = t.family(t.t[i].2, targets);
        let (task_family, task_rev) = family_and_revision(&task_td);
        let found = if task_family == family {
            Some(task_rev.parse().unwrap_or(0))
        } else {
            let after = if t.family(t.t[i].4, targets) == family { u64::from(t.t[i].5) } else { 0 };
            ecs::revisions_of_job(ecs, &family, after, &t.job, None)
                .await?
                .first()
                .map(|arn| family_and_revision(arn).1.parse().unwrap_or(0))
        };
        match found {
            Some(rev) if rev != 0 => t.t[i].3 = rev,
            _ => {
                return Err(Error::Ended {
                    kind: FailureKind::JobFailed,
                    text: format!(
                        "The beforeDeploy task succeeded, but the revision of {family} this action registered is not \
                         found; no service was updated. Retry the stage."
                    ),
                });
            }
        }
    }
    for &i in &queued {
        t.t[i].set(State::Applying);
    }
    // A first announcement of these changes: one not seen made is made again once, by the next job.
    t.tries = 1;
    if let Some(task) = t.task.as_mut() {
        task.state = TaskState::Done;
    }
    // The services' own timeout starts now.
    let at = now();
    t.deadline = at + i64::from(t.timeout) * 60;
    t.started = at;
    let moves: Vec<String> = queued
        .iter()
        .map(|i| format!("{}: to {}", targets[*i].service, t.revision(*i, false, targets).unwrap_or_default()))
        .collect();
    let summary = format!(
        "{}\nThe beforeDeploy task succeeded; updating the services now: {}; the next job finds out how it went.",
        lines.join("\n"),
        moves.join(", ")
    );
    if cx.protocol.on {
        if let Vouched::No(outcome) = announce::vouch(cx.clients, &cx.job.id, &t, summary.clone()).await? {
            return Ok(outcome);
        }
        cx.checkpoint.fallback(Outcome::Reported("in progress: announced"));
    }
    cx.checkpoint.step(format!("updating {} service(s) after the beforeDeploy task", queued.len()));
    let refused = apply::redo(cx.reaches(), cx.guard, &mut t, targets, &queued, None).await;
    for (i, error) in &refused {
        error!(service = %targets[*i].service, error = %error.message(), "ECS refused an update after the beforeDeploy task");
        cx.protocol.remember(&t.job, error);
    }
    if cx.protocol.on {
        return Ok(Outcome::Reported("in progress: the services were updated after the beforeDeploy task"));
    }
    if let Some((_, error)) = refused.into_iter().next() {
        return Err(error);
    }
    let view = Summary { t: &t, targets, single: params.single };
    Ok(Outcome::InProgress(Progress {
        token: t.encode()?,
        summary: summary.replace("updating the services now", "updated the services"),
        percent: super::decide::percent(&t),
        external_id: view.external_id(0),
    }))
}

#[cfg(test)]
mod tests {
    use aws_sdk_ecs::types::{
        CapacityProviderStrategyItem, ContainerDefinition, LaunchType, NetworkConfiguration as Net,
    };

    use super::*;

    fn td(containers: &[(&str, Option<bool>)]) -> TaskDefinition {
        TaskDefinition::builder()
            .family("web")
            .set_container_definitions(Some(
                containers
                    .iter()
                    .map(|(n, essential)| ContainerDefinition::builder().name(*n).set_essential(*essential).build())
                    .collect(),
            ))
            .build()
    }

    fn service() -> Service {
        Service::builder()
            .launch_type(LaunchType::Fargate)
            .platform_version("1.4.0")
            .network_configuration(
                Net::builder()
                    .awsvpc_configuration(
                        AwsVpcConfiguration::builder()
                            .subnets("subnet-a")
                            .subnets("subnet-b")
                            .security_groups("sg-1")
                            .assign_public_ip(AssignPublicIp::Disabled)
                            .build()
                            .unwrap(),
                    )
                    .build(),
            )
            .build()
    }

    const JOB: &str = "0b6a3e52-5f43-4d7e-9d64-1c2f3a4b5c6d";

    #[test]
    fn the_runtask_request_is_placed_as_the_service_is() {
        let before: BeforeDeploy = serde_json::from_value::<serde_json::Map<String, Value>>(serde_json::json!({
            "beforeDeploy": {"container": "app", "command": ["./migrate", "--up"], "environment": {"DB": "s3cr3t"}}
        }))
        .map(|m| crate::config::before_deploy::parse_before_deploy(&m).unwrap().unwrap())
        .unwrap();
        let target = Target::named("prod", "web");
        let plan = plan(
            &before,
            (&target, &service()),
            &td(&[("app", None), ("sidecar", Some(true)), ("xray", Some(false))]),
            Source::Revision(0),
            JOB,
        )
        .unwrap();
        let r = &plan.request;
        assert_eq!(r.cluster, "prod");
        assert_eq!(r.network, service().network_configuration().cloned());
        assert_eq!((r.launch_type.clone(), r.platform_version.as_deref()), (Some(LaunchType::Fargate), Some("1.4.0")));
        assert_eq!(r.started_by, format!("codepipeline-job/{JOB}"));
        assert!(
            r.started_by.len() <= 128 && r.started_by.chars().all(|c| c.is_ascii_alphanumeric() || "-_/".contains(c))
        );
        assert_eq!((r.group.as_str(), r.client_token.as_str()), (format!("codepipeline-job:{JOB}").as_str(), JOB));
        let o = r.overrides.as_ref().unwrap();
        assert_eq!((o.name(), o.command()), (Some("app"), &["./migrate".to_owned(), "--up".to_owned()][..]));
        assert_eq!(o.environment()[0].value(), Some("s3cr3t"));
        assert_eq!(plan.essential, ["sidecar"], "xray is not essential; app decides itself");
        assert!(!format!("{r:?}").contains("s3cr3t"), "the request's Debug never shows a value");
        let said = plan.describe("web:8").join("\n");
        assert!(
            said.contains("FARGATE, subnets subnet-a, subnet-b") && said.contains("environment DB (values not shown)"),
            "{said}"
        );
        assert!(!said.contains("s3cr3t"));
    }

    #[test]
    fn its_own_network_and_the_service_capacity_providers() {
        let mut map = serde_json::Map::new();
        map.insert(
            "beforeDeploy".into(),
            serde_json::json!({"cluster": "batch", "count": 2, "networkConfiguration":
                {"awsvpcConfiguration": {"subnets": ["subnet-z"], "assignPublicIp": "ENABLED"}}}),
        );
        let before = crate::config::before_deploy::parse_before_deploy(&map).unwrap().unwrap();
        let service = Service::builder()
            .capacity_provider_strategy(
                CapacityProviderStrategyItem::builder().capacity_provider("spot").weight(1).build().unwrap(),
            )
            .build();
        let target = Target::named("prod", "web");
        let plan =
            plan(&before, (&target, &service), &td(&[("web", None)]), Source::Existing("arn:x:web:3".into()), JOB)
                .unwrap();
        let vpc = plan.request.network.as_ref().unwrap().awsvpc_configuration().unwrap();
        assert_eq!(
            (vpc.subnets(), vpc.assign_public_ip()),
            (&["subnet-z".to_owned()][..], Some(&AssignPublicIp::Enabled))
        );
        assert_eq!(plan.request.launch_type, None);
        assert_eq!(plan.request.capacity_provider_strategy[0].capacity_provider(), "spot");
        assert_eq!((plan.request.cluster.as_str(), plan.request.count, plan.container.as_str()), ("batch", 2, "web"));
        assert_eq!(plan.request.task_definition, "arn:x:web:3");
        assert!(plan.request.overrides.is_none());
    }

    #[test]
    fn the_container_that_decides_must_be_named_when_there_are_several() {
        let before = crate::config::before_deploy::parse_before_deploy(
            &serde_json::from_str(r#"{"beforeDeploy": {}}"#).unwrap(),
        )
        .unwrap()
        .unwrap();
        let target = Target::named("prod", "web");
        let e = plan(&before, (&target, &service()), &td(&[("a", None), ("b", None)]), Source::Revision(0), JOB)
            .unwrap_err()
            .to_string();
        assert!(e.contains("has 2: a, b; say which one's exit code decides"), "{e}");
        let named: BeforeDeploy = BeforeDeploy { container: Some("c".into()), ..before };
        let e =
            plan(&named, (&target, &service()), &td(&[("a", None)]), Source::Revision(0), JOB).unwrap_err().to_string();
        assert!(e.contains("\"c\" is not a container of web; its containers are: a"), "{e}");
    }
}
