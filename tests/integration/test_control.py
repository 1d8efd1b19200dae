"""Driving deployments from the pipeline through the real binary: stop at a pause hook, continue after an
approval, roll back in either state, promote an existing revision, and each refusal."""

import json
import re

from emulator.harness import image_definitions, zip_bytes

REPO = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
OLD, NEW = f"{REPO}/web:1111111", f"{REPO}/web:2222222"
PAUSE = {"targetType": "PAUSE", "lifecycleStages": ["POST_TEST_TRAFFIC_SHIFT"], "roleArn": "arn:aws:iam::123456789012:role/hooks",
         "timeoutConfiguration": {"timeoutInMinutes": 120, "action": "ROLLBACK"}}
CANARY = {"strategy": "CANARY", "bakeTimeInMinutes": 10, "canaryConfiguration": {"canaryPercent": 10.0, "canaryBakeTimeInMinutes": 20},
          "lifecycleHooks": [PAUSE]}
ROLLING = {"strategy": "ROLLING", "deploymentCircuitBreaker": {"enable": True, "rollback": True}}


def seed(ecs, pipeline, names, config, scenario="complete", **extra):
    ecs.seed(names["cluster"], names["service"], [("web", OLD)], scenario=scenario, config=config, **extra)
    pipeline.upload(names["key"], zip_bytes({"imagedefinitions.json": image_definitions([("web", NEW)])}))
    return {"cluster": names["cluster"], "service": names["service"]}, [("BuildOutput", names["key"])]


def failure(run, kind, *words):
    got, message = run.failure
    assert got == kind, message
    for w in words:
        assert w in message, f"{message!r} lacks {w!r}"
    return message


def pause(pipeline, params, artifacts):
    run = pipeline.run(dict(params, wait="paused"), artifacts=artifacts)
    assert run.status == "Succeeded", run.jobs[-1]
    return run


def test_a_canary_paused_for_approval_is_continued_by_a_later_action(stack, emulator, pipeline, ecs, names):
    params, artifacts = seed(ecs, pipeline, names, CANARY, minutes_per_look=10)
    deploy = pause(pipeline, params, artifacts)
    v = deploy.variables
    assert v["HookId"] == "hook-1" and v["LifecycleStage"] == "POST_TEST_TRAFFIC_SHIFT"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", v["HookExpiresAt"]), v
    assert v["TaskDefinitionArn"].endswith(f"{names['service']}:2") and v["Strategy"] == "CANARY"
    summary = deploy.report["executionDetails"]["summary"]
    assert "waiting at POST_TEST_TRAFFIC_SHIFT for ContinueServiceDeployment (pause hook hook-1)" in summary, summary
    assert '"action": "continue"' in summary
    assert ecs.deployments(names["service"])[-1]["status"] == "IN_PROGRESS", "paused, not stopped"

    # A Manual Approval action would sit here; approving runs the next action with the deploy's variables.
    continued = pipeline.run(dict(params, action="continue", serviceDeploymentArn=v["ServiceDeploymentArn"], hookId=v["HookId"]), artifacts=[])
    assert continued.status == "Succeeded", continued.failure
    first = continued.jobs[0]["reports"][0]["request"]["executionDetails"]["summary"]
    assert "About to continue service deployment" in first and "at pause hook hook-1 (POST_TEST_TRAFFIC_SHIFT)" in first, first
    assert "Continued service deployment" in continued.started, continued.started
    assert continued.variables["TaskDefinitionArn"] == v["TaskDefinitionArn"]
    assert ecs.deployments(names["service"])[-1]["status"] == "SUCCESSFUL"
    assert emulator.stats()["calls"]["ecs:ContinueServiceDeployment"] >= 1

    # The same hook again: it no longer waits.
    again = pipeline.run(dict(params, action="continue", serviceDeploymentArn=v["ServiceDeploymentArn"], hookId=v["HookId"]), artifacts=[])
    failure(again, "JobFailed", "has ended (SUCCESSFUL), so there is nothing to continue")


def test_a_rejected_approval_lets_the_hook_expire_and_a_later_rollback_is_one_of_its_own(stack, emulator, pipeline, ecs, names):
    """ECS rolled the paused deployment back when its hook expired (the service runs :2 again). A rollback action
    afterwards does not take that earlier rollback as its own result: it goes back from what runs (:2) to the
    revision before it (:1), by a deployment it starts and follows."""
    params, artifacts = seed(ecs, pipeline, names, CANARY, minutes_per_look=30)
    first = pause(pipeline, params, artifacts).variables  # :1 → :2, approved and continued to its end
    continued = pipeline.run(dict(params, action="continue", serviceDeploymentArn=first["ServiceDeploymentArn"]), artifacts=[])
    assert continued.status == "Succeeded", continued.failure
    assert ecs.deployments(names["service"])[-1]["status"] == "SUCCESSFUL"
    pipeline.upload(names["key"] + "-3", zip_bytes({"imagedefinitions.json": image_definitions([("web", NEW + "3")])}))
    v = pause(pipeline, params, [("BuildOutput", names["key"] + "-3")]).variables  # :2 → :3, paused
    client = emulator.client("ecs")
    for _ in range(5):  # time passes (30 emulated minutes a look) until the hook's 120 minutes expire
        client.describe_service_deployments(serviceDeploymentArns=[v["ServiceDeploymentArn"]])
    late = pipeline.run(dict(params, action="continue", serviceDeploymentArn=v["ServiceDeploymentArn"], hookId=v["HookId"]), artifacts=[])
    failure(late, "JobFailed", "lifecycle hook hook-1 (PAUSE) timed out")
    assert ecs.deployments(names["service"])[-1]["status"] == "ROLLBACK_SUCCESSFUL"
    assert ecs.service(names["cluster"], names["service"])["taskDefinition"].endswith(":2")
    # The revert is a CANARY deployment too; without the pause hook, so that it runs to its end here.
    no_pause = {k: v for k, v in CANARY.items() if k != "lifecycleHooks"}
    client.update_service(cluster=names["cluster"], service=names["service"], deploymentConfiguration=no_pause)
    rollback = pipeline.run(dict(params, action="rollback"), artifacts=[])
    assert rollback.status == "Succeeded", rollback.failure
    assert rollback.variables["TaskDefinitionArn"].endswith(f"{names['service']}:1"), (rollback.variables, [j["reports"] for j in rollback.jobs])
    assert rollback.variables["RolledBackFrom"].endswith(f"{names['service']}:2")
    assert rollback.said(f"from {names['service']}:2 to {names['service']}:1"), rollback.summaries
    assert "Rolled back to" in rollback.report["executionDetails"]["summary"]
    assert ecs.service(names["cluster"], names["service"])["taskDefinition"].endswith(":1")
    assert ecs.deployments(names["service"])[-1]["status"] == "SUCCESSFUL", "its own deployment, followed to its end"


def test_rollback_during_a_deploy_stops_it_with_a_rollback(stack, emulator, pipeline, ecs, names):
    params, artifacts = seed(ecs, pipeline, names, ROLLING, scenario="stuck")
    started = pipeline.run(dict(params, wait=False), artifacts=artifacts)
    assert started.status == "Succeeded"
    emulator.admin("POST", "reset-stats")
    rollback = pipeline.run(dict(params, action="rollback"), artifacts=[])
    assert rollback.status == "Succeeded", rollback.failure
    assert emulator.stats()["calls"]["ecs:StopServiceDeployment"] == 1
    assert "About to ask ECS to roll back service deployment" in rollback.summaries[0], rollback.summaries
    assert "ECS rolled back service deployment" in rollback.started, rollback.started
    assert f"{OLD} = sha256:" in rollback.started, "the digest of what runs now"
    assert rollback.variables["TaskDefinitionArn"].endswith(":1") and rollback.variables["RolledBackFrom"].endswith(":2")
    assert ecs.deployments(names["service"])[-1]["status"] == "ROLLBACK_SUCCESSFUL"


def test_rollback_with_nothing_in_progress_deploys_the_previous_revision(stack, emulator, pipeline, ecs, names):
    params, artifacts = seed(ecs, pipeline, names, ROLLING)
    assert pipeline.run(params, artifacts=artifacts).status == "Succeeded"
    emulator.admin("POST", "reset-stats")
    rollback = pipeline.run(dict(params, action="rollback"), artifacts=[])
    assert rollback.status == "Succeeded", rollback.failure
    first = rollback.started
    assert f"Rolled back service {names['service']} in cluster {names['cluster']} from {names['service']}:2 to {names['service']}:1" in first, first
    assert "the task definition only" in first
    assert rollback.variables["TaskDefinitionArn"].endswith(":1") and rollback.variables["RolledBackFrom"].endswith(":2")
    assert "ecs:RegisterTaskDefinition" not in emulator.stats()["calls"]
    assert ecs.service(names["cluster"], names["service"])["taskDefinition"].endswith(":1")

    to_current = pipeline.run(dict(params, action="rollback", taskDefinition=f"{names['service']}:1"), artifacts=[])
    failure(to_current, "ConfigurationError", f"already runs {names['service']}:1, the revision to roll back to")


def test_an_existing_revision_is_promoted_without_reading_or_registering(stack, emulator, pipeline, ecs, names):
    params, artifacts = seed(ecs, pipeline, names, ROLLING)
    assert pipeline.run(dict(params, wait=False), artifacts=artifacts).status == "Succeeded"  # now on :2
    emulator.admin("POST", "reset-stats")
    promoted = pipeline.run(dict(params, taskDefinition=f"{names['service']}:1"), artifacts=artifacts)
    assert promoted.status == "Succeeded", promoted.jobs[-1]
    calls = emulator.stats()["calls"]
    assert "s3:GetObject" not in calls and "ecs:RegisterTaskDefinition" not in calls, calls
    assert promoted.variables["TaskDefinitionArn"].endswith(f"{names['service']}:1")
    assert "About to promote" in promoted.summaries[0] and "Promoted" in promoted.started, promoted.summaries

    client = emulator.client("ecs")
    client.deregister_task_definition(taskDefinition=f"{names['service']}:2")
    retired = pipeline.run(dict(params, taskDefinition=f"{names['service']}:2"), artifacts=[])
    failure(retired, "ConfigurationError", f"task definition {names['service']}:2 is INACTIVE; only an ACTIVE revision can be deployed")
    missing = pipeline.run(dict(params, taskDefinition=f"{names['service']}:99"), artifacts=[])
    failure(missing, "ConfigurationError", f"task definition {names['service']}:99 does not exist")


def test_refusals(stack, emulator, pipeline, ecs, names):
    params, artifacts = seed(ecs, pipeline, names, CANARY)
    ended = pipeline.run(dict(params, action="continue"), artifacts=[])
    failure(ended, "JobFailed", "has ended (SUCCESSFUL), so there is nothing to continue")
    assert pipeline.run(dict(params, wait=False), artifacts=artifacts).status == "Succeeded"  # a deployment starts
    nothing_waits = pipeline.run(dict(params, action="continue"), artifacts=[])
    failure(nothing_waits, "ConfigurationError", "no hook of service deployment", "awaits action (it reports no lifecycle hooks)")
    both = pipeline.run(dict(params, taskDefinition="web:1", fileName="imagedefinitions.json"), artifacts=artifacts)
    failure(both, "ConfigurationError", "\"fileName\" cannot be set with \"taskDefinition\"")
    pipeline.upload(names["key"] + "-3", zip_bytes({"imagedefinitions.json": image_definitions([("web", NEW + "3")])}))
    v = pause(pipeline, params, [("BuildOutput", names["key"] + "-3")]).variables
    wrong_hook = pipeline.run(dict(params, action="continue", serviceDeploymentArn=v["ServiceDeploymentArn"], hookId="nope"), artifacts=[])
    failure(wrong_hook, "ConfigurationError", "has no lifecycle hook nope", "hook-1 (AWAITING_ACTION)")
    assert all(len(j["reports"]) == 1 for run in (nothing_waits, both, wrong_hook) for j in run.jobs)
