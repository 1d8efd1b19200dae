//! CloudWatch Logs: the last lines of a task container's awslogs stream (GetLogEvents), for a failure message.

use crate::aws::clients::Reach;
use crate::error::{Error, aws};

/// Where a container's awslogs driver writes: group, region, and its stream for a task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogPlace {
    pub group: String,
    pub region: String,
    pub stream: String,
}

/// The stream of a task's container with the awslogs driver (`<awslogs-stream-prefix>/<container>/<task id>`),
/// or where its logs are when it has none.
pub fn place(
    container: &aws_sdk_ecs::types::ContainerDefinition,
    task_id: &str,
    default_region: &str,
) -> Result<LogPlace, String> {
    let name = container.name().unwrap_or("?");
    let Some(config) = container.log_configuration() else {
        return Err(format!("container {name} has no log configuration, so its output was not kept"));
    };
    let driver = config.log_driver().as_str();
    if driver != "awslogs" {
        return Err(format!("container {name} logs with the {driver} driver: its output is there"));
    }
    let options = config.options();
    let option = |key: &str| options.and_then(|o| o.get(key)).cloned();
    let Some(group) = option("awslogs-group") else {
        return Err(format!("container {name} has awslogs without awslogs-group"));
    };
    let Some(prefix) = option("awslogs-stream-prefix") else {
        return Err(format!(
            "container {name} logs to {group} without awslogs-stream-prefix, so its stream is not named after the task"
        ));
    };
    Ok(LogPlace {
        region: option("awslogs-region").unwrap_or_else(|| default_region.to_owned()),
        stream: format!("{prefix}/{name}/{task_id}"),
        group,
    })
}

/// The last `limit` lines of a stream, oldest first.
pub async fn last_lines(reach: &Reach, at: &LogPlace, limit: i32) -> Result<Vec<String>, Error> {
    let out = reach
        .logs(&at.region)
        .get_log_events()
        .log_group_name(&at.group)
        .log_stream_name(&at.stream)
        .start_from_head(false)
        .limit(limit)
        .send()
        .await
        .map_err(aws("GetLogEvents", format!("log stream {} in {}", at.stream, at.group)))?;
    Ok(out.events().iter().filter_map(|e| e.message().map(str::to_owned)).collect())
}
