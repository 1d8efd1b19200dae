//! Scheduled tasks: EventBridge Scheduler schedules (GetSchedule, UpdateSchedule) and EventBridge rules'
//! targets (ListTargetsByRule, PutTargets), each error wrapped with the action and the resource.
//!
//! UpdateSchedule replaces the whole schedule: a field it is not sent is reset to its default (EventBridge
//! Scheduler API reference, UpdateSchedule). So [`replaced`] sends back every field GetSchedule returned, with
//! only the ECS target's task definition changed. PutTargets with a target's `Id` replaces that target
//! (EventBridge API reference, PutTargets): the targets go back as ListTargetsByRule returned them.

use aws_sdk_eventbridge::types::Target as RuleTarget;
use aws_sdk_scheduler::operation::get_schedule::GetScheduleOutput;
use aws_sdk_scheduler::operation::update_schedule::builders::UpdateScheduleFluentBuilder;

use crate::aws::clients::Reach;
use crate::error::{AwsError, AwsErrorKind, Error, aws};

/// GetSchedule; `None` when the schedule does not exist.
pub async fn get_schedule(reach: &Reach, group: &str, name: &str) -> Result<Option<GetScheduleOutput>, Error> {
    match reach.scheduler().get_schedule().group_name(group).name(name).send().await {
        Ok(out) => Ok(Some(out)),
        Err(e) if e.as_service_error().is_some_and(|e| e.is_resource_not_found_exception()) => Ok(None),
        Err(e) => Err(aws("GetSchedule", format!("schedule {name} in group {group}"))(e)),
    }
}

/// The task definition a schedule's target runs, when it runs an ECS task.
pub fn schedule_task_definition(got: &GetScheduleOutput) -> Option<&str> {
    got.target().and_then(|t| t.ecs_parameters()).map(|e| e.task_definition_arn())
}

/// The UpdateSchedule that moves a schedule to `task_definition`: every field GetSchedule returned, sent back
/// unchanged (the read-only ARN and dates aside), and the ECS target's task definition replaced.
pub fn replaced(
    client: &aws_sdk_scheduler::Client,
    got: &GetScheduleOutput,
    task_definition: &str,
) -> UpdateScheduleFluentBuilder {
    let mut target = got.target.clone();
    if let Some(ecs) = target.as_mut().and_then(|t| t.ecs_parameters.as_mut()) {
        ecs.task_definition_arn = task_definition.to_owned();
    }
    client
        .update_schedule()
        .set_name(got.name.clone())
        .set_group_name(got.group_name.clone())
        .set_schedule_expression(got.schedule_expression.clone())
        .set_start_date(got.start_date)
        .set_end_date(got.end_date)
        .set_description(got.description.clone())
        .set_schedule_expression_timezone(got.schedule_expression_timezone.clone())
        .set_state(got.state.clone())
        .set_kms_key_arn(got.kms_key_arn.clone())
        .set_target(target)
        .set_flexible_time_window(got.flexible_time_window.clone())
        .set_action_after_completion(got.action_after_completion.clone())
}

/// UpdateSchedule of a schedule to `task_definition` (see [`replaced`]).
pub async fn move_schedule(reach: &Reach, got: &GetScheduleOutput, task_definition: &str) -> Result<(), Error> {
    let name = got.name().unwrap_or("?");
    let group = got.group_name().unwrap_or("default");
    replaced(&reach.scheduler(), got, task_definition)
        .send()
        .await
        .map_err(aws("UpdateSchedule", format!("schedule {name} in group {group}")))?;
    Ok(())
}

/// A rule's targets (ListTargetsByRule); `None` when the rule does not exist.
pub async fn rule_targets(reach: &Reach, bus: &str, rule: &str) -> Result<Option<Vec<RuleTarget>>, Error> {
    let mut all = Vec::new();
    let mut next: Option<String> = None;
    for _ in 0..10 {
        let out = reach
            .events()
            .list_targets_by_rule()
            .rule(rule)
            .event_bus_name(bus)
            .set_next_token(next.take())
            .send()
            .await;
        let out = match out {
            Ok(out) => out,
            Err(e) if e.as_service_error().is_some_and(|e| e.is_resource_not_found_exception()) => return Ok(None),
            Err(e) => return Err(aws("ListTargetsByRule", format!("rule {rule} on event bus {bus}"))(e)),
        };
        all.extend(out.targets().iter().cloned());
        match out.next_token() {
            Some(token) => next = Some(token.to_owned()),
            None => break,
        }
    }
    Ok(Some(all))
}

/// The task definition a rule's target runs, when it runs an ECS task.
pub fn rule_task_definition(target: &RuleTarget) -> Option<&str> {
    target.ecs_parameters().map(|e| e.task_definition_arn())
}

/// The target as ListTargetsByRule returned it, with its ECS task definition replaced.
pub fn retargeted(target: &RuleTarget, task_definition: &str) -> RuleTarget {
    let mut target = target.clone();
    if let Some(ecs) = target.ecs_parameters.as_mut() {
        ecs.task_definition_arn = task_definition.to_owned();
    }
    target
}

/// PutTargets: the targets replace those of the same ids. A target EventBridge did not take is an error.
pub async fn put_targets(reach: &Reach, bus: &str, rule: &str, targets: Vec<RuleTarget>) -> Result<(), Error> {
    let resource = format!("rule {rule} on event bus {bus}");
    let out = reach
        .events()
        .put_targets()
        .rule(rule)
        .event_bus_name(bus)
        .set_targets(Some(targets))
        .send()
        .await
        .map_err(aws("PutTargets", resource.clone()))?;
    if out.failed_entry_count() > 0 {
        let why: Vec<String> = out
            .failed_entries()
            .iter()
            .map(|f| {
                format!(
                    "target {}: {} {}",
                    f.target_id().unwrap_or("?"),
                    f.error_code().unwrap_or("?"),
                    f.error_message().unwrap_or_default()
                )
            })
            .collect();
        return Err(Error::Aws {
            action: "PutTargets",
            resource,
            source: AwsError::unexpected(AwsErrorKind::Other, why.join("; ")),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use aws_sdk_scheduler::types::{
        ActionAfterCompletion, AwsVpcConfiguration, DeadLetterConfig, EcsParameters, FlexibleTimeWindow,
        FlexibleTimeWindowMode, LaunchType, NetworkConfiguration, RetryPolicy, ScheduleState, Target,
    };
    use aws_smithy_types::DateTime;

    use super::*;

    /// A small deterministic generator (xorshift), so that the property runs the same everywhere.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn maybe(&mut self) -> bool {
            self.next().is_multiple_of(2)
        }
        fn text(&mut self, prefix: &str) -> Option<String> {
            self.maybe().then(|| format!("{prefix}-{}", self.next() % 100_000))
        }
    }

    fn schedule(rng: &mut Rng) -> GetScheduleOutput {
        let ecs = EcsParameters::builder()
            .task_definition_arn("arn:aws:ecs:us-east-1:123456789012:task-definition/web:7")
            .set_task_count(rng.maybe().then_some(2))
            .set_launch_type(rng.maybe().then_some(LaunchType::Fargate))
            .set_platform_version(rng.text("1.4"))
            .set_group(rng.text("group"))
            .set_network_configuration(rng.maybe().then(|| {
                NetworkConfiguration::builder()
                    .awsvpc_configuration(AwsVpcConfiguration::builder().subnets("subnet-1").build().unwrap())
                    .build()
            }))
            .build()
            .unwrap();
        let target =
            Target::builder()
                .arn("arn:aws:ecs:us-east-1:123456789012:cluster/batch")
                .role_arn("arn:aws:iam::123456789012:role/scheduler")
                .ecs_parameters(ecs)
                .set_input(rng.text("{\"x\":1}"))
                .set_retry_policy(rng.maybe().then(|| {
                    RetryPolicy::builder().maximum_retry_attempts(3).maximum_event_age_in_seconds(600).build()
                }))
                .set_dead_letter_config(
                    rng.maybe().then(|| DeadLetterConfig::builder().arn("arn:aws:sqs:us-east-1:1:dlq").build()),
                )
                .build()
                .unwrap();
        GetScheduleOutput::builder()
            .arn("arn:aws:scheduler:us-east-1:123456789012:schedule/batch/nightly")
            .name("nightly")
            .set_group_name(rng.text("group"))
            .schedule_expression("cron(0 3 * * ? *)")
            .set_start_date(rng.maybe().then(|| DateTime::from_secs(1_800_000_000)))
            .set_end_date(rng.maybe().then(|| DateTime::from_secs(1_900_000_000)))
            .set_description(rng.text("description"))
            .set_schedule_expression_timezone(rng.maybe().then(|| "Europe/Paris".to_owned()))
            .set_state(Some(if rng.maybe() { ScheduleState::Disabled } else { ScheduleState::Enabled }))
            .creation_date(DateTime::from_secs(1_700_000_000))
            .last_modification_date(DateTime::from_secs(1_750_000_000))
            .set_kms_key_arn(rng.text("arn:aws:kms:us-east-1:123456789012:key"))
            .target(target)
            .set_flexible_time_window(Some(if rng.maybe() {
                FlexibleTimeWindow::builder().mode(FlexibleTimeWindowMode::Off).build().unwrap()
            } else {
                FlexibleTimeWindow::builder()
                    .mode(FlexibleTimeWindowMode::Flexible)
                    .maximum_window_in_minutes(15)
                    .build()
                    .unwrap()
            }))
            .set_action_after_completion(rng.maybe().then_some(ActionAfterCompletion::None))
            .build()
    }

    fn client() -> aws_sdk_scheduler::Client {
        aws_sdk_scheduler::Client::from_conf(
            aws_sdk_scheduler::Config::builder()
                .behavior_version(aws_sdk_scheduler::config::BehaviorVersion::latest())
                .region(aws_sdk_scheduler::config::Region::new("us-east-1"))
                .build(),
        )
    }

    /// The property: for any schedule, every field GetSchedule returned is sent back unchanged except the task
    /// definition ARN.
    #[test]
    fn update_schedule_sends_back_every_field_but_the_task_definition() {
        let new = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:8";
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for _ in 0..500 {
            let got = schedule(&mut rng);
            let request = replaced(&client(), &got, new);
            let sent = request.as_input();
            assert_eq!(sent.get_name(), &got.name);
            assert_eq!(sent.get_group_name(), &got.group_name);
            assert_eq!(sent.get_schedule_expression(), &got.schedule_expression);
            assert_eq!(sent.get_start_date(), &got.start_date);
            assert_eq!(sent.get_end_date(), &got.end_date);
            assert_eq!(sent.get_description(), &got.description);
            assert_eq!(sent.get_schedule_expression_timezone(), &got.schedule_expression_timezone);
            assert_eq!(sent.get_state(), &got.state);
            assert_eq!(sent.get_kms_key_arn(), &got.kms_key_arn);
            assert_eq!(sent.get_flexible_time_window(), &got.flexible_time_window);
            assert_eq!(sent.get_action_after_completion(), &got.action_after_completion);
            let mut expected = got.target.clone().unwrap();
            expected.ecs_parameters.as_mut().unwrap().task_definition_arn = new.to_owned();
            assert_eq!(sent.get_target().as_ref(), Some(&expected));
            assert_ne!(sent.get_target(), &got.target);
        }
    }

    /// The field names a Debug print of a default value shows.
    fn fields(debug: &str) -> Vec<String> {
        let inner = &debug[debug.find('{').unwrap() + 1..debug.rfind('}').unwrap()];
        inner.split(", ").filter_map(|f| f.split_once(':')).map(|(name, _)| name.trim().to_owned()).collect()
    }

    /// When a newer SDK adds a field to GetSchedule's answer or UpdateSchedule's input, this fails: the field
    /// must be sent back (or listed here as read-only).
    #[test]
    fn every_field_of_get_schedule_is_known() {
        const READ_ONLY: [&str; 3] = ["arn", "creation_date", "last_modification_date"];
        const SENT_BACK: [&str; 12] = [
            "name",
            "group_name",
            "schedule_expression",
            "start_date",
            "end_date",
            "description",
            "schedule_expression_timezone",
            "state",
            "kms_key_arn",
            "target",
            "flexible_time_window",
            "action_after_completion",
        ];
        let got = fields(&format!("{:?}", GetScheduleOutput::builder().build()));
        assert!(got.len() >= READ_ONLY.len() + SENT_BACK.len(), "{got:?}");
        let mut known: Vec<&str> = READ_ONLY.iter().chain(SENT_BACK.iter()).copied().collect();
        known.push("_request_id");
        for field in &got {
            assert!(known.contains(&field.as_str()), "GetSchedule returns {field}: send it back in `replaced`");
        }
        let input = fields(&format!("{:?}", client().update_schedule().as_input()));
        assert!(input.len() > SENT_BACK.len(), "{input:?}");
        for field in &input {
            assert!(
                SENT_BACK.contains(&field.as_str()) || field == "client_token",
                "UpdateSchedule takes {field}: does GetSchedule return it?"
            );
        }
    }
}
