"""Deployments followed through the real binary as ECS reports them (service deployments): every strategy to
success with its proof, every failure cause named within one look, timeouts, and the first release's defects."""

import json
import threading
import time

from emulator.harness import ROOT, image_definitions, zip_bytes

REPO = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
OLD, NEW = f"{REPO}/web:1111111", f"{REPO}/web:2222222"

STRATEGIES = {
    "ROLLING": {"strategy": "ROLLING", "deploymentCircuitBreaker": {"enable": True, "rollback": True}},
    "BLUE_GREEN": {"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 60},
    "LINEAR": {"strategy": "LINEAR", "bakeTimeInMinutes": 10, "linearConfiguration": {"stepPercent": 25.0, "stepBakeTimeInMinutes": 15}},
    "CANARY": {"strategy": "CANARY", "bakeTimeInMinutes": 10, "canaryConfiguration": {"canaryPercent": 10.0, "canaryBakeTimeInMinutes": 30}},
}


def deploy(ecs, pipeline, names, scenario="complete", config=None, **extra):
    ecs.seed(names["cluster"], names["service"], [("web", OLD)], scenario=scenario, config=config, **extra)
    pipeline.upload(names["key"], zip_bytes({"imagedefinitions.json": image_definitions([("web", NEW)])}))
    return {"cluster": names["cluster"], "service": names["service"]}, [("BuildOutput", names["key"])]


def summaries(run):
    return [j["reports"][0]["request"].get("executionDetails", {}).get("summary", "") for j in run.jobs]


def percents(run):
    return [j["reports"][0]["request"]["executionDetails"]["percentComplete"] for j in run.jobs[:-1]]


def test_each_strategy_deploys_to_success_with_proof_of_what_was_released(stack, emulator, pipeline, ecs, names):
    for strategy, config in STRATEGIES.items():
        n = {k: f"{v}-{strategy.lower().replace('_', '')}" for k, v in names.items()}
        params, artifacts = deploy(ecs, pipeline, n, config=config, looks=2, minutes_per_look=15)
        run = pipeline.run(params, artifacts=artifacts)
        assert run.status == "Succeeded", (strategy, run.jobs[-1])
        assert run.reports_per_job() == [1] * len(run.jobs)
        variables = run.variables
        td = ecs.service(n["cluster"], n["service"])["taskDefinition"]
        assert variables["TaskDefinitionArn"] == td and td.endswith(":2"), strategy
        assert variables["Strategy"] == strategy
        assert variables["ServiceDeploymentArn"].split("/")[-3:-1] == [n["cluster"], n["service"]]
        assert variables["ServiceRevisionArn"].startswith("arn:aws:ecs:us-east-1:123456789012:service-revision/")
        assert variables["PreviousTaskDefinitionArn"].endswith(f"{n['service']}:1")
        assert variables["ImageDigest_web"].startswith("sha256:") and len(variables["ImageDigest_web"]) == 71
        texts = summaries(run)
        assert f"web: {NEW} = {variables['ImageDigest_web']}" in texts[-1], texts[-1]
        assert f"following {strategy} service deployment" in run.started, run.started
        steps = percents(run)
        assert steps == sorted(steps), (strategy, steps)
        if strategy != "ROLLING":
            assert any("production traffic" in t for t in texts), texts
        if strategy in ("LINEAR", "CANARY"):
            assert any("bake time" in t and "min left" in t for t in texts), texts
        if strategy == "CANARY":
            assert any("production traffic 10 %" in t for t in texts) and any("production traffic 100 %" in t for t in texts), texts
        if strategy == "BLUE_GREEN":
            assert "timeout 90 min: this BLUE_GREEN configuration bakes for 60 min, plus 30 min" in texts[0], texts[0]
            assert "timeout 90 min" in run.started, run.started
            assert any("stage BAKE_TIME" in t for t in texts), texts


def failed_within_one_look(run, *words):
    kind, message = run.failure
    assert kind == "JobFailed", message
    for w in words:
        assert w in message, f"{message!r} lacks {w!r}"
    return message


def test_a_circuit_breaker_rollback_fails_at_the_first_look_with_its_reasons(stack, emulator, pipeline, ecs, names):
    params, artifacts = deploy(ecs, pipeline, names, "fail", config=STRATEGIES["ROLLING"], looks=2, exit_code=137,
                               reason="OutOfMemoryError: Container killed due to memory usage")
    started = time.monotonic()
    run = pipeline.run(params, artifacts=artifacts)
    # The announcement, then the job that finds the deployment started and looks at it: the breaker tripped.
    assert len(run.jobs) == 2, run.summaries
    failed_within_one_look(
        run, "failed: the deployment circuit breaker tripped: 3 task(s) failed (threshold 3)", "ECS is rolling back",
        f"(the service ran {names['service']}:1 before this deploy) (ROLLBACK_REQUESTED)",
        "3 tasks (EssentialContainerExited): Essential container in task exited; container",
        "exit code 137, OutOfMemoryError", "deployment failed: tasks failed to start.")
    assert time.monotonic() - started < 10


def test_an_alarm_rollback_is_explained_by_the_alarm_name(stack, emulator, pipeline, ecs, names):
    config = dict(STRATEGIES["BLUE_GREEN"], alarms={"alarmNames": ["web-5xx-rate", "web-latency"], "enable": True, "rollback": True})
    params, artifacts = deploy(ecs, pipeline, names, "alarm", config=config, minutes_per_look=30)
    run = pipeline.run(params, artifacts=artifacts)
    failed_within_one_look(run, "the CloudWatch alarm \"web-5xx-rate\" went into ALARM", "ECS is rolling back")
    assert ecs.deployments(names["service"])[-1]["status"].startswith("ROLLBACK_")


def test_a_failing_lambda_hook_names_the_hook_and_the_stage(stack, emulator, pipeline, ecs, names):
    hook = {"targetType": "AWS_LAMBDA", "hookTargetArn": "arn:aws:lambda:us-east-1:123456789012:function:smoke-test",
            "roleArn": "arn:aws:iam::123456789012:role/hooks", "lifecycleStages": ["POST_TEST_TRAFFIC_SHIFT"]}
    config = dict(STRATEGIES["BLUE_GREEN"], lifecycleHooks=[hook])
    params, artifacts = deploy(ecs, pipeline, names, config=config, hook_result="FAILED")
    run = pipeline.run(params, artifacts=artifacts)
    failed_within_one_look(run, "lifecycle hook hook-1 (AWS_LAMBDA arn:aws:lambda:us-east-1:123456789012:function:smoke-test) failed at POST_TEST_TRAFFIC_SHIFT")


def test_a_person_stopping_the_deployment_is_named(stack, emulator, pipeline, ecs, names):
    params, artifacts = deploy(ecs, pipeline, names, "stuck", config=STRATEGIES["ROLLING"])
    client = emulator.client("ecs")

    def stop_by_hand(token):
        arn = ecs.deployments(names["service"])[-1]["serviceDeploymentArn"]
        client.stop_service_deployment(serviceDeploymentArn=arn, stopType="ABORT")
        return token

    run = pipeline.run(params, artifacts=artifacts, token_hook=stop_by_hand)
    failed_within_one_look(run, "stopped by a StopServiceDeployment request (a person or another tool)")


def test_a_failed_rollback_says_so_loudly(stack, emulator, pipeline, ecs, names):
    params, artifacts = deploy(ecs, pipeline, names, "rollback-failed", config=STRATEGIES["ROLLING"])
    ecs_client = emulator.client("ecs")

    def look(token):  # ECS moves on between two looks of ours: the rollback runs and fails
        arn = ecs.deployments(names["service"])[-1]["serviceDeploymentArn"]
        for _ in range(3):
            ecs_client.describe_service_deployments(serviceDeploymentArns=[arn])
        return token

    run = pipeline.run(params, artifacts=artifacts, token_hook=look)
    failed_within_one_look(run, "ROLLBACK FAILED", "mix of revisions", f"such as {names['service']}:1")


def test_a_breaker_without_rollback_leaves_the_service_stopped_and_says_so(stack, emulator, pipeline, ecs, names):
    config = {"strategy": "ROLLING", "deploymentCircuitBreaker": {"enable": True, "rollback": False}}
    params, artifacts = deploy(ecs, pipeline, names, "fail", config=config)
    run = pipeline.run(params, artifacts=artifacts)
    failed_within_one_look(run, "was stopped: the deployment circuit breaker tripped", "ECS did not roll it back")


def test_early_success_is_success(stack, emulator, pipeline, ecs, names):
    config = dict(STRATEGIES["ROLLING"], earlySuccessCriteria={"enable": True, "healthyPercent": 100})
    params, artifacts = deploy(ecs, pipeline, names, "early", config=config)
    run = pipeline.run(params, artifacts=artifacts)
    assert run.status == "Succeeded"
    assert "declared it successful early" in summaries(run)[-1]


def expire(token):
    value = json.loads(token)
    value["deadline"] = int(time.time()) - 1
    return json.dumps(value)


def test_a_timed_out_deploy_is_rolled_back_by_default(stack, emulator, pipeline, ecs, names):
    params, artifacts = deploy(ecs, pipeline, names, "stuck", config=STRATEGIES["ROLLING"])
    emulator.admin("POST", "reset-stats")
    run = pipeline.run(dict(params, timeoutMinutes=5), artifacts=artifacts, token_hook=expire)
    failed_within_one_look(run, "did not finish within 5 minutes, so it was rolled back (onTimeout: \"rollback\")")
    assert emulator.stats()["calls"]["ecs:StopServiceDeployment"] == 1
    assert ecs.deployments(names["service"])[-1]["status"].startswith("ROLLBACK_")


def test_on_timeout_leave_leaves_it_running(stack, emulator, pipeline, ecs, names):
    params, artifacts = deploy(ecs, pipeline, names, "stuck", config=STRATEGIES["ROLLING"])
    emulator.admin("POST", "reset-stats")
    run = pipeline.run(dict(params, timeoutMinutes=5, onTimeout="leave"), artifacts=artifacts, token_hook=expire)
    failed_within_one_look(run, "it was left running (onTimeout: \"leave\")")
    assert "ecs:StopServiceDeployment" not in emulator.stats()["calls"]
    assert ecs.deployments(names["service"])[-1]["status"] == "IN_PROGRESS"


def test_a_deployment_paused_at_a_hook_is_not_stopped_when_time_runs_out(stack, emulator, pipeline, ecs, names):
    hook = {"targetType": "PAUSE", "lifecycleStages": ["POST_TEST_TRAFFIC_SHIFT"], "roleArn": "arn:aws:iam::123456789012:role/hooks",
            "timeoutConfiguration": {"timeoutInMinutes": 600, "action": "ROLLBACK"}}
    config = dict(STRATEGIES["CANARY"], lifecycleHooks=[hook])
    params, artifacts = deploy(ecs, pipeline, names, config=config)
    client = emulator.client("ecs")

    def look_then_expire(token):
        arn = ecs.deployments(names["service"])[-1]["serviceDeploymentArn"]
        for _ in range(6):  # until it waits at the hook
            client.describe_service_deployments(serviceDeploymentArns=[arn])
        return expire(token)

    emulator.admin("POST", "reset-stats")
    run = pipeline.run(params, artifacts=artifacts, token_hook=look_then_expire)
    message = failed_within_one_look(run, "waiting at POST_TEST_TRAFFIC_SHIFT for ContinueServiceDeployment (pause hook hook-1) until",
                                     "if nobody continues it, the hook's timeout action ROLLBACK applies")
    assert "does not stop a deployment that waits at a pause hook" in message
    assert "ecs:StopServiceDeployment" not in emulator.stats()["calls"]


def test_a_throttled_look_is_looked_at_again(stack, emulator, pipeline, ecs, names):
    params, artifacts = deploy(ecs, pipeline, names, config=STRATEGIES["ROLLING"], looks=2)
    emulator.fault("ecs:DescribeServiceDeployments", "throttle", times=3)  # every attempt of one look
    run = pipeline.run(params, artifacts=artifacts)
    assert run.status == "Succeeded", run.jobs[-1]
    assert any("ECS did not answer this look" in s and "ThrottlingException" in s for s in summaries(run)), summaries(run)


def test_a_success_replaced_before_the_next_look_is_still_its_success(stack, emulator, pipeline, ecs, names):
    """The deployment this action started succeeded, then another deploy replaced it before our look: the action's
    verdict is its own deployment's (success), named by its id. (What runs now is not looked up: the final look
    makes one call besides the look, for the digests.)"""
    params, artifacts = deploy(ecs, pipeline, names, config=STRATEGIES["ROLLING"])
    client = emulator.client("ecs")
    ours = []

    def finish_then_replace(token):
        arn = ecs.deployments(names["service"])[-1]["serviceDeploymentArn"]
        ours.append(arn.rsplit("/", 1)[1])
        for _ in range(3):
            client.describe_service_deployments(serviceDeploymentArns=[arn])
        client.update_service(cluster=names["cluster"], service=names["service"], forceNewDeployment=True)
        return token

    run = pipeline.run(params, artifacts=artifacts, token_hook=finish_then_replace)
    assert run.status == "Succeeded", run.jobs[-1]
    # Report first, then change: the job after the announcement finds the newest deployment of the announced
    # revision (here the replacement, which deploys the same revision) and judges it.
    assert f"of {names['service']}:2 (ROLLING) succeeded" in summaries(run)[-1], summaries(run)[-1]


def test_a_retry_after_a_failed_deployment_deploys_again(stack, emulator, pipeline, ecs, names):
    config = {"strategy": "ROLLING", "deploymentCircuitBreaker": {"enable": True, "rollback": False}}
    params, artifacts = deploy(ecs, pipeline, names, "fail", config=config)
    first = pipeline.run(params, artifacts=artifacts)
    assert first.status == "Failed"
    emulator.scenario(names["service"], "complete")
    retry = pipeline.run(params, artifacts=artifacts)  # CodePipeline's Retry: a new job, the same artifact
    assert retry.status == "Succeeded", retry.jobs[-1]
    assert "ended STOPPED; started a new deployment" in summaries(retry)[0], summaries(retry)[0]
    assert len(ecs.revisions(names["service"])) == 2, "no new revision: the same images"
    assert [d["status"] for d in ecs.deployments(names["service"])] == ["SUCCESSFUL", "STOPPED", "SUCCESSFUL"]


def test_two_deliveries_of_one_job_at_the_same_moment_deploy_once(tmp_path):
    from conftest import assert_no_secrets
    from emulator.harness import Ecs, Pipeline, Stack

    with Stack(tmp_path, processes=2) as stack:
        ecs, pipeline = Ecs(stack.emulator), Pipeline(stack)
        ecs.seed("dup", "web", [("web", OLD)], config=STRATEGIES["ROLLING"])
        pipeline.upload("dup/1", zip_bytes({"imagedefinitions.json": image_definitions([("web", NEW)])}))
        job_id, event = pipeline.file_job(pipeline.job_data(json.dumps({"cluster": "dup", "service": "web"}), [("BuildOutput", "dup/1")]))
        answers = []
        threads = [threading.Thread(target=lambda: answers.append(stack.runtime.invoke(event, timeout=30))) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert [kind for kind, _ in answers] == ["response", "response"], answers
        served = [f for f in stack.functions if "job received" in f.logs()]
        assert len(served) == 2, "both processes took a delivery"
        job = stack.emulator.admin("GET", f"jobs/{job_id}")
        assert len(job["reports"]) == 1 and job["status"] == "Succeeded"
        active = ecs.ecs.list_task_definitions(familyPrefix="web", status="ACTIVE")["taskDefinitionArns"]
        assert len(active) == 2, f"one new ACTIVE revision for the job: {active}"
        assert len(ecs.deployments("web")) == 2, "one new service deployment"
        token = json.loads(job["reports"][0]["request"]["continuationToken"])
        assert token["t"][0][6] == 8, "the announcement: the next job finds the change made"
        assert_no_secrets(stack.logs())


def test_a_token_of_the_first_release_is_followed_to_its_end(stack, emulator, pipeline, ecs, names):
    """An upgrade of the function mid-rollout: the v1 token the first release wrote is still followed."""
    params, artifacts = deploy(ecs, pipeline, names, config=STRATEGIES["ROLLING"], looks=2)
    started = pipeline.run(dict(params, wait=False), artifacts=artifacts)
    service = emulator.client("ecs").describe_services(cluster=names["cluster"], services=[names["service"]])["services"][0]
    primary = next(d for d in service["deployments"] if d["status"] == "PRIMARY")
    now = int(time.time())
    v1 = json.dumps({"v": 1, "cluster": service["clusterArn"], "service": service["serviceArn"], "deploymentId": primary["id"],
                     "taskDefinitionArn": started.variables["TaskDefinitionArn"], "startedAt": now, "deadline": now + 600,
                     "timeoutMinutes": 10, "polls": 0}, separators=(",", ":"))
    jobs = 0
    token = v1
    while token is not None and jobs < 10:
        job_id, event = pipeline.file_job(pipeline.job_data(json.dumps(params), artifacts, token=token))
        pipeline.invoke(event)
        report = emulator.admin("GET", f"jobs/{job_id}")["reports"][0]["request"]
        token = report.get("continuationToken")
        jobs += 1
        if token:
            assert json.loads(token)["v"] in (1, 4), "read as v1, written as v4"
    assert "failureDetails" not in report, report
    assert f"Deployment {primary['id']} of {names['service']}:2 completed" in report["executionDetails"]["summary"]


def test_a_service_without_service_deployments_uses_the_services_stable_rule(stack, emulator, pipeline, ecs, names):
    params, artifacts = deploy(ecs, pipeline, names, "classic", looks=2)
    run = pipeline.run(params, artifacts=artifacts)
    assert run.status == "Succeeded", run.jobs[-1]
    token = json.loads(run.jobs[1]["reports"][0]["request"]["continuationToken"])
    assert token["t"][0][0] == "" and token["t"][0][1] > 0, "followed by its ecs-svc deployment"
    assert "completed: 2 of 2 tasks running" in summaries(run)[-1]


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
    # The sample continuation names a service deployment this emulator never started.
    details = outcomes["continuation.json"][1]["failureDetails"]
    assert details["type"] == "JobFailed" and "is no longer known to ECS" in details["message"], details


def test_a_pause_hook_that_expires_applies_its_timeout_action(stack, emulator, pipeline, ecs, names):
    for action, scenario_name in (("ROLLBACK", "rollback"), ("CONTINUE", "continue")):
        n = {k: f"{v}-{scenario_name}" for k, v in names.items()}
        hook = {"targetType": "PAUSE", "lifecycleStages": ["POST_TEST_TRAFFIC_SHIFT"], "roleArn": "arn:aws:iam::123456789012:role/hooks",
                "timeoutConfiguration": {"timeoutInMinutes": 20, "action": action}}
        params, artifacts = deploy(ecs, pipeline, n, config=dict(STRATEGIES["CANARY"], lifecycleHooks=[hook]), minutes_per_look=10)
        run = pipeline.run(params, artifacts=artifacts)
        texts = summaries(run)
        assert any("waiting at POST_TEST_TRAFFIC_SHIFT for ContinueServiceDeployment (pause hook hook-1)" in t for t in texts), texts
        if action == "ROLLBACK":
            failed_within_one_look(run, "lifecycle hook hook-1 (PAUSE) timed out at POST_TEST_TRAFFIC_SHIFT", "ECS is rolling back")
        else:
            assert run.status == "Succeeded", run.jobs[-1]
