"""Rollouts judged through the real binary: a rollback, a replaced deployment, a timeout, a classic service."""

import json
import time

from emulator.harness import ROOT, image_definitions, zip_bytes

REPO = "123456789012.dkr.ecr.us-east-1.amazonaws.com"


def deploy(ecs, pipeline, names, scenario, polls=1, **extra):
    ecs.seed(names["cluster"], names["service"], [("web", f"{REPO}/web:1111111")], scenario=scenario, polls=polls, **extra)
    pipeline.upload(names["key"], zip_bytes({"imagedefinitions.json": image_definitions([("web", f"{REPO}/web:2222222")])}))
    return {"cluster": names["cluster"], "service": names["service"]}, [("BuildOutput", names["key"])]


def test_a_circuit_breaker_rollback_fails_fast_with_its_reasons(stack, emulator, pipeline, ecs, names):
    params, artifacts = deploy(ecs, pipeline, names, "fail", polls=2, exit_code=137, reason="OutOfMemoryError: Container killed due to memory usage")
    started = time.monotonic()
    run = pipeline.run(params, artifacts=artifacts)
    assert run.status == "Failed" and len(run.jobs) == 3, "the deploy, one look while rolling, the look that sees the failure"
    kind, message = run.failure
    assert kind == "JobFailed"
    for words in ("FAILED: ECS deployment circuit breaker: tasks failed to start. (3 tasks failed)", "The service now runs",
                  "3 tasks (EssentialContainerExited): Essential container in task exited; container",
                  "exit code 137, OutOfMemoryError", "rolling back to deployment"):
        assert words in message, message
    assert time.monotonic() - started < 10


def test_a_replaced_deployment_fails_and_names_the_replacement(stack, emulator, pipeline, ecs, names):
    params, artifacts = deploy(ecs, pipeline, names, "replaced", polls=1)
    run = pipeline.run(params, artifacts=artifacts)
    kind, message = run.failure
    assert kind == "JobFailed" and "did not finish: it is now ACTIVE; the service's PRIMARY deployment is now ecs-svc/" in message, message


def test_a_stuck_rollout_times_out(stack, emulator, pipeline, ecs, names):
    params, artifacts = deploy(ecs, pipeline, names, "stuck")

    def expire(token):  # CodePipeline hands the token back; here the clock has run out
        value = json.loads(token)
        value["deadline"] = int(time.time()) - 1
        return json.dumps(value)

    run = pipeline.run(dict(params, timeoutMinutes=5), artifacts=artifacts, token_hook=expire)
    kind, message = run.failure
    assert kind == "JobFailed" and message.startswith("Deployment ecs-svc/") and "timed out after 5 minutes" in message, message


def test_a_service_without_rollout_state_uses_the_services_stable_rule(stack, emulator, pipeline, ecs, names):
    params, artifacts = deploy(ecs, pipeline, names, "classic", polls=2)
    run = pipeline.run(params, artifacts=artifacts)
    assert run.status == "Succeeded" and len(run.jobs) == 3, run.jobs


def test_the_sample_events_drive_the_function(stack, emulator, pipeline, ecs):
    """events/*.json as CodePipeline would send them (the README's `cargo lambda invoke --data-file` inputs)."""
    events = {name: json.loads((ROOT / "events" / name).read_text()) for name in ("deploy.json", "image-detail.json", "bad-user-parameters.json", "continuation.json")}
    deploy_job = events["deploy.json"]["CodePipeline.job"]
    user = json.loads(deploy_job["data"]["actionConfiguration"]["configuration"]["UserParameters"])
    ecs.seed(user["cluster"], user["service"], [("web", f"{REPO}/web:1111111")])
    for name, files in (("deploy.json", {"imagedefinitions.json": image_definitions([("web", f"{REPO}/web:3f2a9c1")])}),
                        ("image-detail.json", {"imageDetail.json": json.dumps({"ImageURI": f"{REPO}/web@sha256:" + "cd" * 32})})):
        location = events[name]["CodePipeline.job"]["data"]["inputArtifacts"][0]["location"]["s3Location"]
        pipeline.upload(location["objectKey"], zip_bytes(files))
    outcomes = {}
    for name, event in events.items():
        job = event["CodePipeline.job"]
        emulator.admin("POST", "jobs", {"id": job["id"], "data": job["data"]})
        kind, body = stack.runtime.invoke(event, timeout=30)
        assert kind == "response", (name, body)
        result = emulator.admin("GET", f"jobs/{job['id']}")
        outcomes[name] = (result["status"], result["reports"][0]["request"])
    assert outcomes["deploy.json"][0] == "Succeeded" and "continuationToken" in outcomes["deploy.json"][1]
    assert outcomes["image-detail.json"][0] == "Succeeded"
    assert outcomes["bad-user-parameters.json"][1]["failureDetails"]["type"] == "ConfigurationError"
    # The sample continuation names a deployment this emulator never started: the service replaced it.
    assert outcomes["continuation.json"][1]["failureDetails"]["type"] == "JobFailed"
