"""Scheduled tasks follow the release, through the release binary: EventBridge Scheduler schedules and
EventBridge rules' ECS targets of a family the action moved go to its new revision once every service succeeded
(every other field as it was: UpdateSchedule replaces the whole schedule), and back with the rollback action."""

import datetime

from emulator.harness import image_definitions, zip_bytes

REPO = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
OLD, NEW = f"{REPO}/web:1111111", f"{REPO}/web:2222222"
ROLLING = {"strategy": "ROLLING", "deploymentCircuitBreaker": {"enable": True, "rollback": True}}


def seed(ecs, pipeline, names):
    td = ecs.seed(names["cluster"], names["service"], [("web", OLD)], config=ROLLING)
    pipeline.upload(names["key"], zip_bytes({"imagedefinitions.json": image_definitions([("web", NEW)])}))
    return td["taskDefinitionArn"], {"cluster": names["cluster"], "service": names["service"]}, [("BuildOutput", names["key"])]


def test_a_schedule_moves_with_every_other_field_intact(stack, emulator, pipeline, ecs, names):
    arn, params, artifacts = seed(ecs, pipeline, names)
    nightly = f"{names['service']}-nightly"
    ecs.schedule(
        nightly, arn, group="batch",
        Description="the nightly report", ScheduleExpressionTimezone="Europe/Paris", State="DISABLED",
        StartDate=datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc), EndDate=datetime.datetime(2027, 1, 1, tzinfo=datetime.timezone.utc),
        KmsKeyArn="arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab", ActionAfterCompletion="DELETE",
        FlexibleTimeWindow={"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 15},
        Target={"RetryPolicy": {"MaximumEventAgeInSeconds": 3600, "MaximumRetryAttempts": 2}, "Input": "{\"report\":\"daily\"}",
                "DeadLetterConfig": {"Arn": "arn:aws:sqs:us-east-1:123456789012:dlq"}},
    )
    before = ecs.get_schedule(nightly, "batch")
    run = pipeline.run(dict(params, schedules=[nightly], scheduleGroup="batch"), artifacts=artifacts)
    assert run.status == "Succeeded", run.failure
    after = ecs.get_schedule(nightly, "batch")
    new = arn.rsplit(":", 1)[0] + ":2"
    assert after["Target"]["EcsParameters"]["TaskDefinitionArn"] == new
    for schedule in (before, after):
        schedule.pop("ResponseMetadata")
        schedule.pop("LastModificationDate")
        schedule["Target"]["EcsParameters"].pop("TaskDefinitionArn")
    assert after == before
    summary = run.report["executionDetails"]["summary"]
    assert f"schedule batch/{nightly}: moved from {names['service']}:1 to {names['service']}:2" in summary, summary
    assert run.variables["SchedulesMoved"] == f"{nightly}={names['service']}:2"
    # Moved only after the service succeeded, and announced first.
    log = [e["op"] for e in emulator.stats()["log"]]
    assert log.count("scheduler:UpdateSchedule") >= 1
    assert run.said("About to move the scheduled tasks to the new revisions:")


def test_a_schedule_of_another_family_is_left_alone(stack, emulator, pipeline, ecs, names):
    _, params, artifacts = seed(ecs, pipeline, names)
    other = ecs.ecs.register_task_definition(family=f"{names['service']}-report", containerDefinitions=[{"name": "r", "image": OLD, "memory": 128}])
    other_arn = other["taskDefinition"]["taskDefinitionArn"]
    ecs.schedule(f"{names['service']}-other", other_arn)
    emulator.admin("POST", "reset-stats")
    run = pipeline.run(dict(params, schedules=[f"{names['service']}-other"]), artifacts=artifacts)
    assert run.status == "Succeeded", run.failure
    assert ecs.get_schedule(f"{names['service']}-other")["Target"]["EcsParameters"]["TaskDefinitionArn"] == other_arn
    assert "scheduler:UpdateSchedule" not in emulator.stats()["calls"]
    summary = run.report["executionDetails"]["summary"]
    assert f"left alone (it runs {names['service']}-report:1, a family this action did not move)" in summary, summary
    assert "SchedulesMoved" not in run.variables


def test_a_missing_schedule_is_refused_before_any_change(stack, emulator, pipeline, ecs, names):
    _, params, artifacts = seed(ecs, pipeline, names)
    emulator.admin("POST", "reset-stats")
    run = pipeline.run(dict(params, schedules=["no-such-schedule"]), artifacts=artifacts)
    kind, message = run.failure
    assert kind == "ConfigurationError" and "schedule no-such-schedule does not exist" in message, message
    calls = emulator.stats()["calls"]
    assert not any(op.split(":")[1].startswith(("Register", "Update", "RunTask")) for op in calls), calls
    assert len(run.jobs) == 1


def test_rule_targets_of_the_family_move(stack, emulator, pipeline, ecs, names):
    arn, params, artifacts = seed(ecs, pipeline, names)
    other = ecs.ecs.register_task_definition(family=f"{names['service']}-batch", containerDefinitions=[{"name": "b", "image": OLD, "memory": 128}])
    other_arn = other["taskDefinition"]["taskDefinitionArn"]
    rule = f"{names['service']}-cron"
    ecs.rule(rule, [("web", arn), ("batch", other_arn)])
    run = pipeline.run(dict(params, rules=[rule]), artifacts=artifacts)
    assert run.status == "Succeeded", run.failure
    targets = {t["Id"]: t for t in ecs.rule_targets(rule)}
    assert targets["web"]["EcsParameters"]["TaskDefinitionArn"] == arn.rsplit(":", 1)[0] + ":2"
    assert targets["web"]["EcsParameters"]["LaunchType"] == "FARGATE" and targets["web"]["RoleArn"].endswith("role/events")
    assert targets["batch"]["EcsParameters"]["TaskDefinitionArn"] == other_arn
    assert run.variables["SchedulesMoved"] == f"{rule}={names['service']}:2"


def test_the_rollback_action_moves_the_schedules_back(stack, emulator, pipeline, ecs, names):
    arn, params, artifacts = seed(ecs, pipeline, names)
    nightly = f"{names['service']}-nightly"
    ecs.schedule(nightly, arn)
    assert pipeline.run(dict(params, schedules=[nightly]), artifacts=artifacts).status == "Succeeded"
    assert ecs.get_schedule(nightly)["Target"]["EcsParameters"]["TaskDefinitionArn"].endswith(":2")
    run = pipeline.run(dict(params, action="rollback", schedules=[nightly]), artifacts=[])
    assert run.status == "Succeeded", run.failure
    assert ecs.service(names["cluster"], names["service"])["taskDefinition"].endswith(":1")
    assert ecs.get_schedule(nightly)["Target"]["EcsParameters"]["TaskDefinitionArn"] == arn
    assert run.variables["SchedulesMoved"] == f"{nightly}={names['service']}:1"


def test_a_dry_run_says_which_would_move_and_moves_none(stack, emulator, pipeline, ecs, names):
    arn, params, artifacts = seed(ecs, pipeline, names)
    nightly = f"{names['service']}-nightly"
    ecs.schedule(nightly, arn)
    emulator.admin("POST", "reset-stats")
    run = pipeline.run(dict(params, schedules=[nightly], dryRun=True), artifacts=artifacts)
    summary = run.report["executionDetails"]["summary"]
    assert f"schedule {nightly}: would move from {names['service']}:1 to the new revision of {names['service']}, once every service succeeded" in summary, summary
    assert "scheduler:UpdateSchedule" not in emulator.stats()["calls"]


def test_schedules_need_the_deployment_followed(stack, pipeline, ecs, names):
    _, params, artifacts = seed(ecs, pipeline, names)
    run = pipeline.run(dict(params, schedules=["x"], wait=False), artifacts=artifacts)
    kind, message = run.failure
    assert kind == "ConfigurationError" and "with \"wait\": false the action ends before that" in message, message
