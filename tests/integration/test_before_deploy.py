"""beforeDeploy through the release binary: a one-off task on the new revision before any service moves, followed
across continuation jobs, judged by its exit code, with the log's last lines in the failure; one task per job."""

import json

from emulator.harness import Pipeline, Stack, image_definitions, zip_bytes

REPO = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
OLD, NEW = f"{REPO}/web:1111111", f"{REPO}/web:2222222"
LOGS = {"logConfiguration": {"logDriver": "awslogs", "options": {
    "awslogs-group": "/ecs/web", "awslogs-region": "us-east-1", "awslogs-stream-prefix": "ecs"}}}


def seed(ecs, pipeline, names, **scenario):
    """A service whose container logs with awslogs, the build of a new image, and how its tasks go."""
    ecs.seed(names["cluster"], names["service"], [("web", OLD)], td_extra={"container": LOGS})
    ecs.task_scenario(names["service"], **scenario)
    pipeline.upload(names["key"], zip_bytes({"imagedefinitions.json": image_definitions([("web", NEW)])}))
    return {"cluster": names["cluster"], "service": names["service"]}, [("BuildOutput", names["key"])]


def changes(emulator):
    calls = emulator.stats()["calls"]
    return {op: n for op, n in calls.items() if op.split(":")[1].startswith(("Update", "RunTask", "StopTask"))}


MIGRATE = {"container": "web", "command": ["./migrate", "--up"], "environment": {"DB_PASSWORD": "pa55-w0rd-xyz"}}


def test_a_migration_that_succeeds_lets_the_services_move(stack, emulator, pipeline, ecs, names):
    params, artifacts = seed(ecs, pipeline, names, looks=2)
    emulator.admin("POST", "reset-stats")
    run = pipeline.run(dict(params, beforeDeploy=MIGRATE), artifacts=artifacts)
    assert run.status == "Succeeded", run.failure
    # The task ran on the new revision, placed as the service is, named after the job, before any update.
    [request] = [r for r in ecs.run_requests() if r["startedBy"].endswith(run.jobs[0]["id"])]
    assert request["taskDefinition"].endswith(f"task-definition/{names['service']}:2"), request
    assert request["networkConfiguration"] == ecs.service(names["cluster"], names["service"])["networkConfiguration"]
    assert request["launchType"] == "FARGATE" and request["cluster"] == names["cluster"]
    assert request["startedBy"] == f"codepipeline-job/{run.jobs[0]['id']}" and request["clientToken"] == run.jobs[0]["id"]
    assert request["overrides"]["containerOverrides"] == [
        {"name": "web", "command": ["./migrate", "--up"], "environment": [{"name": "DB_PASSWORD", "value": "pa55-w0rd-xyz"}]}]
    log = [e["op"] for e in emulator.stats()["log"]]
    assert log.index("ecs:RunTask") < log.index("ecs:UpdateService")
    assert ecs.service(names["cluster"], names["service"])["taskDefinition"].endswith(":2")
    assert any("beforeDeploy task " in s and ": RUNNING (" in s for s in run.summaries), run.summaries
    assert run.said("The beforeDeploy task succeeded; updating the services now")
    assert all("pa55-w0rd-xyz" not in s for s in run.summaries)
    assert "pa55-w0rd-xyz" not in stack.logs()
    percents = [j["reports"][0]["request"]["executionDetails"].get("percentComplete", 0) for j in run.jobs
                if j["reports"][0]["request"].get("continuationToken")]
    assert percents == sorted(percents), percents


def test_exit_code_3_fails_with_the_code_and_the_last_log_lines_and_updates_nothing(stack, emulator, pipeline, ecs, names):
    lines = [f"migration step {i}: applying" for i in range(1, 31)] + ["ERROR: relation users already exists (password {DB_PASSWORD})"]
    params, artifacts = seed(ecs, pipeline, names, exit_code=3, logs=lines)
    emulator.admin("POST", "reset-stats")
    run = pipeline.run(dict(params, beforeDeploy=MIGRATE), artifacts=artifacts)
    kind, message = run.failure
    assert kind == "JobFailed", run.failure
    assert "container web exited with code 3" in message and "No service was updated" in message, message
    assert "ERROR: relation users already exists (password ***)" in message, message
    assert "migration step 12: applying" in message and "migration step 11: applying" not in message, message
    assert "pa55-w0rd-xyz" not in message and "pa55-w0rd-xyz" not in stack.logs()
    assert f"ecs/web/" in message and "/ecs/web" in message
    assert "ecs:UpdateService" not in changes(emulator), emulator.stats()["calls"]
    assert emulator.stats()["calls"].get("logs:GetLogEvents") == 1
    assert ecs.service(names["cluster"], names["service"])["taskDefinition"].endswith(":1")


def test_a_task_that_never_starts_says_why(stack, emulator, pipeline, ecs, names):
    why = "CannotPullContainerError: pull image manifest has been retried 5 time(s): not found"
    params, artifacts = seed(ecs, pipeline, names, start_failure=why)
    run = pipeline.run(dict(params, beforeDeploy={"command": ["./migrate"]}), artifacts=artifacts)
    kind, message = run.failure
    assert kind == "JobFailed" and "stopped before container web ran: TaskFailedToStart: " + why in message, message
    assert ecs.service(names["cluster"], names["service"])["taskDefinition"].endswith(":1")


def test_runtask_failures_fail_the_job(stack, emulator, pipeline, ecs, names):
    params, artifacts = seed(ecs, pipeline, names, failures=[{"reason": "RESOURCE:MEMORY"}])
    run = pipeline.run(dict(params, beforeDeploy={}), artifacts=artifacts)
    kind, message = run.failure
    assert kind == "JobFailed" and "started no task: RESOURCE:MEMORY" in message, message
    assert ecs.service(names["cluster"], names["service"])["taskDefinition"].endswith(":1")


def test_a_timeout_stops_the_task_and_updates_nothing(stack, emulator, pipeline, ecs, names):
    params, artifacts = seed(ecs, pipeline, names, looks=100)

    def an_hour_later(token):
        value = json.loads(token)
        if value.get("task", {}).get("s") == "R":
            value["task"]["t"] -= 3600
        return json.dumps(value)

    emulator.admin("POST", "reset-stats")
    run = pipeline.run(dict(params, beforeDeploy={"timeoutMinutes": 15}), artifacts=artifacts, token_hook=an_hour_later)
    kind, message = run.failure
    assert kind == "JobFailed" and "did not finish within its timeout of 15 min" in message, message
    assert emulator.stats()["calls"].get("ecs:StopTask") == 1
    assert "ecs:UpdateService" not in changes(emulator)
    [request] = [r for r in ecs.run_requests() if r["startedBy"].endswith(run.jobs[0]["id"])]
    task = ecs.ecs.list_tasks(cluster=names["cluster"], startedBy=request["startedBy"], desiredStatus="STOPPED")["taskArns"]
    described = ecs.ecs.describe_tasks(cluster=names["cluster"], tasks=task)["tasks"][0]
    assert described["stopCode"] == "UserInitiated" and run.jobs[0]["id"] in described["stoppedReason"]


def test_a_long_task_is_followed_across_continuations(stack, emulator, pipeline, ecs, names):
    params, artifacts = seed(ecs, pipeline, names, looks=6)
    run = pipeline.run(dict(params, beforeDeploy={}, wait=False), artifacts=artifacts)
    assert run.status == "Succeeded", run.failure
    running = [s for s in run.summaries if ": RUNNING (" in s]
    assert len(running) >= 5, run.summaries
    assert ecs.service(names["cluster"], names["service"])["taskDefinition"].endswith(":2")


def test_a_redelivery_runs_one_task(tmp_path):
    """Without report first (so that the redelivery gets as far as RunTask): the job's client token makes ECS
    answer the same task."""
    with Stack(tmp_path, extra_env={"REPORT_BEFORE_CHANGE": "off"}) as stack:
        from emulator.harness import Ecs
        ecs, pipeline = Ecs(stack.emulator), Pipeline(stack)
        names = {"cluster": "redo", "service": "web", "key": "redo/1"}
        params, artifacts = seed(ecs, pipeline, names, looks=3)
        job_id, event = pipeline.file_job(pipeline.job_data(json.dumps(dict(params, beforeDeploy={})), artifacts))
        pipeline.invoke(event)
        stack.emulator.admin("POST", "reset-stats")
        stack.functions.pop(0).stop()  # a fresh process: it remembers no answered job
        stack.start_function({"REPORT_BEFORE_CHANGE": "off"})
        pipeline.invoke(event)  # Lambda delivers the same job again
        requests = [r for r in ecs.run_requests() if r["startedBy"].endswith(job_id)]
        assert len(requests) == 2 and requests[0]["clientToken"] == requests[1]["clientToken"] == job_id
        tasks = ecs.ecs.list_tasks(cluster="redo", startedBy=requests[0]["startedBy"])["taskArns"]
        assert len(tasks) == 1, tasks
        assert len(ecs.revisions("web")) == 2


def test_a_dry_run_names_the_task_and_runs_none(stack, emulator, pipeline, ecs, names):
    params, artifacts = seed(ecs, pipeline, names)
    emulator.admin("POST", "reset-stats")
    run = pipeline.run(dict(params, beforeDeploy=MIGRATE, dryRun=True), artifacts=artifacts)
    assert run.status == "Succeeded", run.failure
    summary = run.report["executionDetails"]["summary"]
    assert f"beforeDeploy: one task of the new revision of {names['service']} in cluster {names['cluster']} (FARGATE, subnets " in summary, summary
    assert "container web with command ./migrate --up and environment DB_PASSWORD (values not shown)" in summary, summary
    assert "(nothing is run in a dry run)" in summary and "pa55-w0rd-xyz" not in summary
    assert changes(emulator) == {}, emulator.stats()["calls"]


def test_a_stage_retry_runs_the_task_again(stack, emulator, pipeline, ecs, names):
    params, artifacts = seed(ecs, pipeline, names, exit_code=1)
    first = pipeline.run(dict(params, beforeDeploy={}), artifacts=artifacts)
    assert first.failure[0] == "JobFailed"
    ecs.task_scenario(names["service"], exit_code=0)
    again = pipeline.run(dict(params, beforeDeploy={}), artifacts=artifacts)
    assert again.status == "Succeeded", again.failure
    assert len([r for r in ecs.run_requests() if names["cluster"] == r["cluster"]]) == 2
    # The retry reused nothing of the failed job's: a revision of its own.
    assert ecs.service(names["cluster"], names["service"])["taskDefinition"].endswith(":3")


def test_with_three_services_and_atomic_the_task_runs_once_before_any_moves(stack, emulator, pipeline, ecs, names):
    services = [names["service"], f"{names['service']}-b", f"{names['service']}-c"]
    for service in services:
        ecs.seed(names["cluster"], service, [("web", OLD)], td_extra={"container": LOGS})
    ecs.task_scenario(names["service"], looks=1)
    pipeline.upload(names["key"], zip_bytes({"imagedefinitions.json": image_definitions([("web", NEW)])}))
    emulator.admin("POST", "reset-stats")
    run = pipeline.run({"cluster": names["cluster"], "services": services, "atomic": True, "beforeDeploy": MIGRATE},
                       artifacts=[("BuildOutput", names["key"])])
    assert run.status == "Succeeded", run.failure
    requests = [r for r in ecs.run_requests() if r["cluster"] == names["cluster"]]
    assert len(requests) == 1, requests
    assert requests[0]["taskDefinition"].endswith(f"task-definition/{names['service']}:2")
    log = [e["op"] for e in emulator.stats()["log"]]
    assert log.count("ecs:RunTask") == 1 and log.count("ecs:UpdateService") == 3, log
    assert log.index("ecs:RunTask") < log.index("ecs:UpdateService")
    assert all(ecs.service(names["cluster"], s)["taskDefinition"].endswith(f"{s}:2") for s in services)


def test_a_migrations_family_runs_with_the_image_the_image_file_names_for_it(stack, emulator, pipeline, ecs, names):
    """beforeDeploy.taskDefinition: another family (a migrations image) gets the image file's image for its
    container, as a revision of its own; the services get theirs, and neither gets the other's container."""
    ecs.seed(names["cluster"], names["service"], [("web", OLD)])
    migrations = f"{names['service']}-migrations"
    ecs.ecs.register_task_definition(
        family=migrations, networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
        executionRoleArn="arn:aws:iam::123456789012:role/web-execution",
        containerDefinitions=[{"name": "migrate", "image": f"{REPO}/migrate:1111111", "essential": True}])
    ecs.task_scenario(migrations, looks=1)
    pipeline.upload(names["key"], zip_bytes({"imagedefinitions.json": image_definitions(
        [("web", NEW), ("migrate", f"{REPO}/migrate:2222222")])}))
    emulator.admin("POST", "reset-stats")
    run = pipeline.run({"cluster": names["cluster"], "service": names["service"],
                        "beforeDeploy": {"taskDefinition": migrations, "container": "migrate", "command": ["./migrate", "--up"]}},
                       artifacts=[("BuildOutput", names["key"])])
    assert run.status == "Succeeded", run.failure
    [request] = [r for r in ecs.run_requests() if r["startedBy"].endswith(run.jobs[0]["id"])]
    assert request["taskDefinition"].endswith(f"task-definition/{migrations}:2"), request
    task = ecs.task_definition(request["taskDefinition"])["taskDefinition"]
    assert [(c["name"], c["image"]) for c in task["containerDefinitions"]] == [("migrate", f"{REPO}/migrate:2222222")]
    running = ecs.task_definition(ecs.service(names["cluster"], names["service"])["taskDefinition"])["taskDefinition"]
    assert running["revision"] == 2 and [(c["name"], c["image"]) for c in running["containerDefinitions"]] == [("web", NEW)]
    log = [e["op"] for e in emulator.stats()["log"]]
    assert log.index("ecs:RunTask") < log.index("ecs:UpdateService")
