//! Every ECS call the function makes, each wrapping its error with the action and the resource.

use aws_sdk_ecs::Client;
use aws_sdk_ecs::types::{
    CreatedAt, DeploymentLifecycleHookAction, DesiredStatus, Service, ServiceDeployment, ServiceDeploymentStatus,
    ServiceRevision, SortOrder, StopServiceDeploymentStopType, Tag, Task, TaskDefinition, TaskDefinitionField,
    TaskDefinitionStatus,
};
use aws_smithy_types::DateTime;

use crate::carry::{Amend, Capture};
use crate::error::{AwsError, AwsErrorKind, Error, aws};
use crate::taskdef::{self, Edit};
use crate::text::{family_and_revision, short_arn};

fn unexpected(action: &'static str, resource: impl Into<String>, what: &str) -> Error {
    Error::Aws { action, resource: resource.into(), source: AwsError::unexpected(AwsErrorKind::Other, what) }
}

/// DescribeServices for one service; a missing service is a configuration error, not an empty answer.
pub async fn describe_service(ecs: &Client, cluster: &str, service: &str) -> Result<Service, Error> {
    let mut found = describe_services(ecs, cluster, &[service.to_owned()]).await?;
    found.pop().unwrap_or_else(|| Err(missing(cluster, service, "ECS returned neither the service nor a failure")))
}

/// DescribeServices for several services of one cluster (ECS takes 10 a call), in the order asked; each missing
/// service is a configuration error of its own.
pub async fn describe_services(
    ecs: &Client,
    cluster: &str,
    services: &[String],
) -> Result<Vec<Result<Service, Error>>, Error> {
    let mut answers = Vec::new();
    for chunk in services.chunks(10) {
        let resource = match chunk {
            [one] => format!("service {one} in cluster {cluster}"),
            _ => format!("{} services in cluster {cluster}", chunk.len()),
        };
        let out = ecs
            .describe_services()
            .cluster(cluster)
            .set_services(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(aws("DescribeServices", resource))?;
        for wanted in chunk {
            let found = out
                .services()
                .iter()
                .find(|s| s.service_arn() == Some(wanted.as_str()) || s.service_name() == Some(short_arn(wanted)));
            answers.push(match found {
                Some(service) => Ok(service.clone()),
                None => {
                    let failure =
                        out.failures().iter().find(|f| f.arn().is_some_and(|a| short_arn(a) == short_arn(wanted)));
                    let reason = failure
                        .or(out.failures().first())
                        .map(|f| {
                            format!(
                                "{}{}",
                                f.reason().unwrap_or("MISSING"),
                                f.detail().map(|d| format!(": {d}")).unwrap_or_default()
                            )
                        })
                        .unwrap_or_else(|| "ECS returned neither the service nor a failure".into());
                    Err(missing(cluster, wanted, &reason))
                }
            });
        }
    }
    Ok(answers)
}

fn missing(cluster: &str, service: &str, reason: &str) -> Error {
    Error::ServiceMissing { cluster: cluster.to_owned(), service: service.to_owned(), reason: reason.to_owned() }
}

/// A task definition as DescribeTaskDefinition gave it: typed, its tags, and the raw JSON (which has the
/// members our SDK does not model; see [`crate::carry`]).
#[derive(Debug, Clone)]
pub struct Described {
    pub td: TaskDefinition,
    pub tags: Vec<Tag>,
    /// `None` when the answer had no body to read (SDK test doubles).
    pub raw: Option<serde_json::Value>,
}

/// DescribeTaskDefinition with its tags and raw JSON, whatever its status (an INACTIVE revision can still be
/// built on; [`active_task_definition`] refuses one to deploy as it is).
pub async fn describe_task_definition(ecs: &Client, arn: &str) -> Result<Described, Error> {
    let capture = Capture::default();
    let out = ecs
        .describe_task_definition()
        .task_definition(arn)
        .include(TaskDefinitionField::Tags)
        .customize()
        .interceptor(capture.clone())
        .send()
        .await
        .map_err(aws("DescribeTaskDefinition", format!("task definition {arn}")))?;
    let raw = capture.task_definition();
    let tags = out.tags().to_vec();
    let td = out.task_definition.ok_or_else(|| {
        unexpected("DescribeTaskDefinition", format!("task definition {arn}"), "the answer holds no task definition")
    })?;
    Ok(Described { td, tags, raw })
}

/// DescribeTaskDefinition of a revision to deploy as it is: it must be ACTIVE.
pub async fn active_task_definition(ecs: &Client, arn: &str) -> Result<Described, Error> {
    let described = describe_task_definition(ecs, arn).await?;
    match described.td.status() {
        Some(TaskDefinitionStatus::Active) | None => Ok(described),
        Some(status) => Err(Error::TaskDefinitionInactive { arn: arn.to_owned(), status: status.as_str().to_owned() }),
    }
}

impl Described {
    /// Whether ECS retired this revision (INACTIVE, DELETE_IN_PROGRESS).
    pub fn retired(&self) -> Option<&str> {
        self.td.status().filter(|s| **s != TaskDefinitionStatus::Active).map(|s| s.as_str())
    }
}

/// The family's newest revisions, newest first (ListTaskDefinitions sorted DESC).
pub async fn newest_revisions(ecs: &Client, family: &str, count: i32) -> Result<Vec<String>, Error> {
    let out = ecs
        .list_task_definitions()
        .family_prefix(family)
        .sort(SortOrder::Desc)
        .max_results(count)
        .send()
        .await
        .map_err(aws("ListTaskDefinitions", format!("task definition family {family}")))?;
    // familyPrefix matches other families that start with the same letters: keep this family's own.
    Ok(out.task_definition_arns().iter().filter(|arn| family_and_revision(arn).0 == family).cloned().collect())
}

/// Every ACTIVE revision of `family`, newest first (ListTaskDefinitions, at most 20 pages of 100).
pub async fn active_revisions(ecs: &Client, family: &str) -> Result<Vec<String>, Error> {
    let mut all = Vec::new();
    let mut next: Option<String> = None;
    for _ in 0..20 {
        let out = ecs
            .list_task_definitions()
            .family_prefix(family)
            .status(TaskDefinitionStatus::Active)
            .sort(SortOrder::Desc)
            .max_results(100)
            .set_next_token(next.take())
            .send()
            .await
            .map_err(aws("ListTaskDefinitions", format!("task definition family {family}")))?;
        all.extend(out.task_definition_arns().iter().filter(|arn| family_and_revision(arn).0 == family).cloned());
        match out.next_token() {
            Some(token) => next = Some(token.to_owned()),
            None => break,
        }
    }
    Ok(all)
}

/// The revisions of `family` newer than `after` (a revision number) that `job_id` registered, oldest first.
/// `known` is one we know the job registered (not described again).
pub async fn revisions_of_job(
    ecs: &Client,
    family: &str,
    after: u64,
    job_id: &str,
    known: Option<&str>,
) -> Result<Vec<String>, Error> {
    let newer: Vec<String> = newest_revisions(ecs, family, 10)
        .await?
        .into_iter()
        .filter(|arn| family_and_revision(arn).1.parse::<u64>().is_ok_and(|r| r > after))
        .collect();
    let mut found = Vec::new();
    for arn in newer.into_iter().rev() {
        if Some(arn.as_str()) == known {
            found.push(arn);
            continue;
        }
        match describe_task_definition(ecs, &arn).await {
            Ok(d) if d.retired().is_none() && taskdef::registered_by(&d.tags, job_id) => found.push(arn),
            Ok(_) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(found)
}

/// A registered revision and the members carried over from the raw JSON that our SDK does not model.
#[derive(Debug, Clone)]
pub struct Registered {
    pub arn: String,
    pub carried: Vec<String>,
}

/// RegisterTaskDefinition of the plan's revision: the typed copy of `base`, plus every member of its raw
/// JSON the typed copy did not carry.
pub async fn register(ecs: &Client, base: &Described, plan: &Edit, job_id: &str) -> Result<Registered, Error> {
    let family = base.td.family().unwrap_or("?").to_owned();
    let resource = format!("task definition family {family}");
    let amend = (base.raw.is_some() || !plan.overrides.is_empty())
        .then(|| Amend::new(base.raw.clone(), plan.overrides.clone()));
    let request = taskdef::register_request(ecs.register_task_definition(), &base.td, &base.tags, plan, job_id);
    let out = match &amend {
        Some(amend) => request.customize().interceptor(amend.clone()).send().await,
        None => request.send().await,
    }
    .map_err(aws("RegisterTaskDefinition", resource.clone()))?;
    let arn = out
        .task_definition()
        .and_then(|td| td.task_definition_arn())
        .map(str::to_owned)
        .ok_or_else(|| unexpected("RegisterTaskDefinition", resource, "the answer holds no task definition ARN"))?;
    let carried = amend.map(|a| a.carried.lock().unwrap_or_else(|e| e.into_inner()).clone()).unwrap_or_default();
    if !carried.is_empty() {
        tracing::info!(members = ?carried, "carried over task definition members this function's SDK does not model");
    }
    Ok(Registered { arn, carried })
}

/// The members RegisterTaskDefinition of `plan` on `base` would carry over from the raw JSON, found without a
/// call to AWS: the request is built and serialized by the SDK as [`register`] builds it, and stopped before it
/// is signed ([`crate::carry::Preview`]). So an announcement (report first, then change) can say what the
/// registration will keep.
pub async fn carried_members(ecs: &Client, base: &Described, plan: &Edit, job_id: &str) -> Vec<String> {
    if base.raw.is_none() {
        return Vec::new();
    }
    let amend = Amend::new(base.raw.clone(), plan.overrides.clone());
    let request = taskdef::register_request(ecs.register_task_definition(), &base.td, &base.tags, plan, job_id);
    let stopped = request.customize().interceptor(amend.clone()).interceptor(crate::carry::Preview).send().await;
    debug_assert!(stopped.is_err(), "the preview never sends");
    amend.carried.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// DeregisterTaskDefinition (a duplicate registered by a concurrent delivery of the same job).
pub async fn deregister(ecs: &Client, arn: &str) -> Result<(), Error> {
    ecs.deregister_task_definition()
        .task_definition(arn)
        .send()
        .await
        .map_err(aws("DeregisterTaskDefinition", format!("task definition {arn}")))?;
    Ok(())
}

/// UpdateService to `arn`.
pub async fn update_service(
    ecs: &Client,
    cluster: &str,
    service: &str,
    arn: &str,
    force: bool,
) -> Result<Service, Error> {
    let out = ecs
        .update_service()
        .cluster(cluster)
        .service(service)
        .task_definition(arn)
        .force_new_deployment(force)
        .send()
        .await
        .map_err(aws("UpdateService", format!("service {service} in cluster {cluster}")))?;
    Ok(out.service.unwrap_or_else(|| Service::builder().build()))
}

/// The id (`ecs-svc/…`) of the PRIMARY deployment, when it runs `arn`.
pub fn primary_deployment<'a>(service: &'a Service, arn: &str) -> Option<&'a str> {
    service
        .deployments()
        .iter()
        .find(|d| d.status() == Some("PRIMARY") && d.task_definition() == Some(arn))
        .and_then(|d| d.id())
}

/// The service deployment that runs `arn` and was created at or after `since`, found with
/// ListServiceDeployments and DescribeServiceRevisions (when UpdateService's answer did not name it).
pub async fn find_service_deployment(
    ecs: &Client,
    cluster: &str,
    service: &str,
    arn: &str,
    since: i64,
) -> Result<Option<String>, Error> {
    let resource = format!("service {service} in cluster {cluster}");
    let out = ecs
        .list_service_deployments()
        .cluster(cluster)
        .service(service)
        .created_at(CreatedAt::builder().after(DateTime::from_secs(since - 60)).build())
        .send()
        .await
        .map_err(aws("ListServiceDeployments", resource.clone()))?;
    let briefs = out.service_deployments();
    let revisions: Vec<String> =
        briefs.iter().filter_map(|b| b.target_service_revision_arn()).map(str::to_owned).collect();
    if revisions.is_empty() {
        return Ok(None);
    }
    let described = describe_service_revisions(ecs, &revisions).await?;
    Ok(briefs
        .iter()
        .find(|b| {
            described.iter().any(|r| {
                r.service_revision_arn() == b.target_service_revision_arn() && r.task_definition() == Some(arn)
            })
        })
        .and_then(|b| b.service_deployment_arn())
        .map(str::to_owned))
}

/// DescribeServiceDeployments for one ARN: `Ok(None)` when ECS no longer knows it.
pub async fn describe_service_deployment(ecs: &Client, arn: &str) -> Result<Option<ServiceDeployment>, Error> {
    let found = describe_service_deployments(ecs, &[arn.to_owned()]).await?;
    Ok(found.into_iter().find(|d| d.service_deployment_arn() == Some(arn)))
}

/// DescribeServiceDeployments for several ARNs (ECS takes at most 20 a call); the ones ECS no longer knows are
/// left out of the answer.
pub async fn describe_service_deployments(ecs: &Client, arns: &[String]) -> Result<Vec<ServiceDeployment>, Error> {
    let mut found = Vec::new();
    for chunk in arns.chunks(20) {
        let out =
            ecs.describe_service_deployments().set_service_deployment_arns(Some(chunk.to_vec())).send().await.map_err(
                aws(
                    "DescribeServiceDeployments",
                    match chunk {
                        [one] => format!("service deployment {}", short_arn(one)),
                        _ => format!("{} service deployments", chunk.len()),
                    },
                ),
            )?;
        found.extend(out.service_deployments().iter().cloned());
    }
    Ok(found)
}

/// DescribeServiceRevisions (ECS takes at most 20 ARNs a call).
pub async fn describe_service_revisions(ecs: &Client, arns: &[String]) -> Result<Vec<ServiceRevision>, Error> {
    let mut revisions = Vec::new();
    for chunk in arns.chunks(20) {
        let out = ecs
            .describe_service_revisions()
            .set_service_revision_arns(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(aws("DescribeServiceRevisions", format!("service revision {}", short_arn(&chunk[0]))))?;
        revisions.extend(out.service_revisions().iter().cloned());
    }
    Ok(revisions)
}

/// ContinueServiceDeployment at `hook` with `action`.
pub async fn continue_deployment(
    ecs: &Client,
    arn: &str,
    hook: &str,
    action: DeploymentLifecycleHookAction,
) -> Result<(), Error> {
    ecs.continue_service_deployment()
        .service_deployment_arn(arn)
        .hook_id(hook)
        .action(action)
        .send()
        .await
        .map_err(aws("ContinueServiceDeployment", format!("service deployment {} at hook {hook}", short_arn(arn))))?;
    Ok(())
}

/// The newest SUCCESSFUL service deployment of a service (ListServiceDeployments, newest first).
pub async fn last_successful_deployment(ecs: &Client, cluster: &str, service: &str) -> Result<Option<String>, Error> {
    let out = ecs
        .list_service_deployments()
        .cluster(cluster)
        .service(service)
        .status(ServiceDeploymentStatus::Successful)
        .max_results(1)
        .send()
        .await
        .map_err(aws("ListServiceDeployments", format!("service {service} in cluster {cluster}")))?;
    Ok(out.service_deployments().first().and_then(|b| b.service_deployment_arn()).map(str::to_owned))
}

/// StopServiceDeployment with `stopType` ROLLBACK.
pub async fn roll_back(ecs: &Client, arn: &str) -> Result<(), Error> {
    ecs.stop_service_deployment()
        .service_deployment_arn(arn)
        .stop_type(StopServiceDeploymentStopType::Rollback)
        .send()
        .await
        .map_err(aws("StopServiceDeployment", format!("service deployment {}", short_arn(arn))))?;
    Ok(())
}

/// A deployment's stopped tasks, where ECS still has them; problems become notes, never the verdict.
pub async fn stopped_tasks(ecs: &Client, cluster: &str, deployment: &str) -> (Vec<Task>, Vec<String>) {
    let listed = ecs
        .list_tasks()
        .cluster(cluster)
        .started_by(deployment)
        .desired_status(DesiredStatus::Stopped)
        .send()
        .await
        .map_err(aws("ListTasks", format!("stopped tasks of {deployment}")));
    let arns = match listed {
        Ok(out) => out.task_arns().iter().take(10).cloned().collect::<Vec<_>>(),
        Err(e) => return (Vec::new(), vec![format!("stopped tasks unavailable: {e}")]),
    };
    if arns.is_empty() {
        return (Vec::new(), vec!["ECS lists no stopped tasks for this deployment".into()]);
    }
    match ecs.describe_tasks().cluster(cluster).set_tasks(Some(arns)).send().await {
        Ok(out) => (out.tasks().to_vec(), Vec::new()),
        Err(e) => {
            let e: Error = aws("DescribeTasks", format!("stopped tasks of {deployment}"))(e);
            (Vec::new(), vec![format!("stopped task details unavailable: {e}")])
        }
    }
}

/// Every cluster of the account and region (ListClusters, 100 a page), at most `max`; `Err` beyond it.
pub async fn list_clusters(ecs: &Client, max: usize) -> Result<Vec<String>, Error> {
    let mut all = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let out = ecs
            .list_clusters()
            .max_results(100)
            .set_next_token(next.take())
            .send()
            .await
            .map_err(aws("ListClusters", "the account's clusters"))?;
        all.extend(out.cluster_arns().iter().cloned());
        if all.len() > max {
            return Err(unexpected("ListClusters", "the account's clusters", &format!("more than {max} clusters")));
        }
        match out.next_token() {
            Some(token) => next = Some(token.to_owned()),
            None => return Ok(all),
        }
    }
}

/// Every service of a cluster (ListServices, 100 a page), at most `max`; `Err` beyond it.
pub async fn list_services(ecs: &Client, cluster: &str, max: usize) -> Result<Vec<String>, Error> {
    let mut all = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let out = ecs
            .list_services()
            .cluster(cluster)
            .max_results(100)
            .set_next_token(next.take())
            .send()
            .await
            .map_err(aws("ListServices", format!("the services of cluster {cluster}")))?;
        all.extend(out.service_arns().iter().cloned());
        if all.len() > max {
            return Err(unexpected("ListServices", cluster, &format!("more than {max} services")));
        }
        match out.next_token() {
            Some(token) => next = Some(token.to_owned()),
            None => return Ok(all),
        }
    }
}

/// A RunTask request, as the beforeDeploy step plans it (pure data; [`run_task`] sends it).
#[derive(Clone, PartialEq)]
pub struct TaskRequest {
    pub cluster: String,
    /// The revision to run (ARN).
    pub task_definition: String,
    pub count: i32,
    pub launch_type: Option<aws_sdk_ecs::types::LaunchType>,
    pub capacity_provider_strategy: Vec<aws_sdk_ecs::types::CapacityProviderStrategyItem>,
    pub platform_version: Option<String>,
    pub network: Option<aws_sdk_ecs::types::NetworkConfiguration>,
    /// Names the job (≤ 128 letters, digits, `-`, `_`, `/`), so that its tasks can be found again.
    pub started_by: String,
    pub group: String,
    /// The same for every delivery and retry of the job's RunTask: ECS starts its tasks once.
    pub client_token: String,
    /// The container's command and environment overrides (the values may be secrets: never printed).
    pub overrides: Option<aws_sdk_ecs::types::ContainerOverride>,
}

impl std::fmt::Debug for TaskRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskRequest")
            .field("cluster", &self.cluster)
            .field("task_definition", &self.task_definition)
            .field("count", &self.count)
            .field("launch_type", &self.launch_type)
            .field("started_by", &self.started_by)
            .field("overrides", &self.overrides.as_ref().map(|o| o.name().unwrap_or_default().to_owned()))
            .finish_non_exhaustive()
    }
}

/// What RunTask started, and what it could not place (`reason: detail (arn)`).
pub struct Started {
    pub tasks: Vec<Task>,
    pub failures: Vec<String>,
}

/// RunTask.
pub async fn run_task(ecs: &Client, r: &TaskRequest) -> Result<Started, Error> {
    let overrides =
        r.overrides.clone().map(|o| aws_sdk_ecs::types::TaskOverride::builder().container_overrides(o).build());
    let out = ecs
        .run_task()
        .cluster(&r.cluster)
        .task_definition(&r.task_definition)
        .count(r.count)
        .set_launch_type(r.launch_type.clone())
        .set_capacity_provider_strategy(
            (!r.capacity_provider_strategy.is_empty()).then(|| r.capacity_provider_strategy.clone()),
        )
        .set_platform_version(r.platform_version.clone())
        .set_network_configuration(r.network.clone())
        .started_by(&r.started_by)
        .group(&r.group)
        .client_token(&r.client_token)
        .set_overrides(overrides)
        .send()
        .await
        .map_err(aws(
            "RunTask",
            format!("task definition {} in cluster {}", short_arn(&r.task_definition), r.cluster),
        ))?;
    let failures = out
        .failures()
        .iter()
        .map(|f| {
            format!(
                "{}{}{}",
                f.reason().unwrap_or("UNKNOWN"),
                f.detail().map(|d| format!(": {d}")).unwrap_or_default(),
                f.arn().map(|a| format!(" ({a})")).unwrap_or_default()
            )
        })
        .collect();
    Ok(Started { tasks: out.tasks().to_vec(), failures })
}

/// DescribeTasks of a cluster's tasks by id (≤ 100): the tasks, and the ids ECS no longer knows.
pub async fn describe_tasks(ecs: &Client, cluster: &str, ids: &[String]) -> Result<(Vec<Task>, Vec<String>), Error> {
    let out = ecs
        .describe_tasks()
        .cluster(cluster)
        .set_tasks(Some(ids.to_vec()))
        .send()
        .await
        .map_err(aws("DescribeTasks", format!("{} task(s) in cluster {cluster}", ids.len())))?;
    let tasks = out.tasks().to_vec();
    let missing = ids
        .iter()
        .filter(|id| !tasks.iter().any(|t| t.task_arn().is_some_and(|a| short_arn(a) == id.as_str())))
        .cloned()
        .collect();
    Ok((tasks, missing))
}

/// StopTask with a reason (≤ 255 characters) that names the job.
pub async fn stop_task(ecs: &Client, cluster: &str, id: &str, reason: &str) -> Result<(), Error> {
    ecs.stop_task()
        .cluster(cluster)
        .task(id)
        .reason(crate::text::clip(reason, 250))
        .send()
        .await
        .map_err(aws("StopTask", format!("task {id} in cluster {cluster}")))?;
    Ok(())
}

/// The tasks `started_by` started in a cluster, running or stopped (ListTasks, twice at most).
pub async fn tasks_started_by(ecs: &Client, cluster: &str, started_by: &str) -> Result<Vec<String>, Error> {
    let mut ids = Vec::new();
    for status in [DesiredStatus::Running, DesiredStatus::Stopped] {
        let out = ecs
            .list_tasks()
            .cluster(cluster)
            .started_by(started_by)
            .desired_status(status)
            .send()
            .await
            .map_err(aws("ListTasks", format!("the tasks started by {started_by} in cluster {cluster}")))?;
        ids.extend(out.task_arns().iter().map(|a| short_arn(a).to_owned()));
    }
    ids.sort();
    ids.dedup();
    Ok(ids)
}
