"""Guard rails through the release binary: a job CodePipeline does not know changes nothing (first jobs and
continuation jobs alike, without any allow-list), a job answered already changes nothing, a change cut short
between its announcement and itself is made by the next job, every way onto a service passes the image and
family allow-lists, and no diff shows a secret."""

import json
import time
import uuid

from emulator.harness import Ecs, Pipeline, Stack, image_definitions, zip_bytes

REPO = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
OLD, NEW = f"{REPO}/web:1111111", f"{REPO}/web:2222222"
FARGATE = {"requiresCompatibilities": ["FARGATE"], "networkMode": "awsvpc", "cpu": "256", "memory": "512"}
ROLLING = {"strategy": "ROLLING", "deploymentCircuitBreaker": {"enable": True, "rollback": True}}


def seed(ecs, pipeline, names, scenario="complete", **extra):
    ecs.seed(names["cluster"], names["service"], [("web", OLD)], scenario=scenario, config=ROLLING, **extra)
    pipeline.upload(names["key"], zip_bytes({"imagedefinitions.json": image_definitions([("web", NEW)])}))
    return {"cluster": names["cluster"], "service": names["service"]}, [("BuildOutput", names["key"])]


def forged(pipeline, user, artifacts, token=None):
    """An event of someone's making: a job id CodePipeline never issued (not filed in the emulator)."""
    job_id = str(uuid.uuid4())
    data = pipeline.job_data(json.dumps(user), artifacts, token=token)
    answers = pipeline.invoke({"CodePipeline.job": {"id": job_id, "accountId": "123456789012", "data": data}})
    return job_id, answers


def changes(emulator):
    calls = emulator.stats()["calls"]
    return {op: n for op, n in calls.items() if op.split(":")[1].startswith(("Register", "Update", "Stop", "Continue", "Deregister", "Tag"))}


def test_a_forged_first_job_changes_nothing_without_allow_lists(stack, emulator, pipeline, ecs, names):
    params, artifacts = seed(ecs, pipeline, names)
    emulator.admin("POST", "reset-stats")
    job_id, answers = forged(pipeline, params, artifacts)
    assert answers[-1][1]["outcome"] == "unknown job: nothing changed", answers
    assert changes(emulator) == {}, emulator.stats()["calls"]
    assert ecs.service(names["cluster"], names["service"])["taskDefinition"].endswith(":1")
    line = next(l for l in stack.logs().splitlines() if "a forged invocation; nothing changes" in l)
    assert json.loads(line)["level"] == "ERROR" and job_id in line


def test_a_forged_continuation_job_rolls_nothing_back(stack, emulator, pipeline, ecs, names):
    """A real token whose deadline passed: its next look would roll the deployment back."""
    params, artifacts = seed(ecs, pipeline, names, scenario="stuck")
    tokens = []
    pipeline.run(dict(params, timeoutMinutes=5), artifacts=artifacts, max_jobs=2, token_hook=lambda t: tokens.append(t) or t)
    value = json.loads(tokens[-1])
    value["deadline"] = int(time.time()) - 1
    emulator.admin("POST", "reset-stats")
    _, answers = forged(pipeline, dict(params, timeoutMinutes=5), artifacts, token=json.dumps(value))
    assert answers[-1][1]["outcome"] == "unknown job: nothing changed", answers
    assert changes(emulator) == {}, emulator.stats()["calls"]
    assert ecs.deployments(names["service"])[-1]["status"] in ("PENDING", "IN_PROGRESS")


def test_a_forged_continuation_job_cleans_nothing_up(stack, emulator, pipeline, ecs, names):
    """A real token of a release with keepRevisions: its final look would deregister old revisions."""
    params, artifacts = seed(ecs, pipeline, names)
    for i in range(4):
        ecs.ecs.register_task_definition(family=names["service"], containerDefinitions=[{"name": "web", "image": f"{REPO}/web:old{i}"}],
                                         requiresCompatibilities=["FARGATE"], networkMode="awsvpc", cpu="256", memory="512")
    tokens = []
    pipeline.run(dict(params, keepRevisions=1), artifacts=artifacts, max_jobs=2, token_hook=lambda t: tokens.append(t) or t)
    before = len(ecs.ecs.list_task_definitions(familyPrefix=names["service"], status="ACTIVE")["taskDefinitionArns"])
    for _ in range(4):  # the deployment ends, so that the next look is the final one
        emulator.client("ecs").describe_services(cluster=names["cluster"], services=[names["service"]])
    emulator.admin("POST", "reset-stats")
    _, answers = forged(pipeline, dict(params, keepRevisions=1), artifacts, token=tokens[-1])
    assert changes(emulator) == {}, (answers, emulator.stats()["calls"])
    after = len(ecs.ecs.list_task_definitions(familyPrefix=names["service"], status="ACTIVE")["taskDefinitionArns"])
    assert after == before


def test_a_job_answered_already_changes_nothing(stack, emulator, pipeline, ecs, names):
    params, artifacts = seed(ecs, pipeline, names)
    job_id, event = pipeline.file_job(pipeline.job_data(json.dumps(dict(params, wait=False)), artifacts))
    pipeline.invoke(event)
    emulator.admin("POST", "reset-stats")
    for _ in range(2):  # again, on a fresh process each time
        stack.functions.pop(0).stop()
        stack.start_function()
        pipeline.invoke(event)
    assert changes(emulator) == {}, emulator.stats()["calls"]
    assert len(emulator.admin("GET", f"jobs/{job_id}")["reports"]) == 1


def test_a_change_cut_short_after_its_announcement_is_made_by_the_next_job(tmp_path):
    """The first job announces, then runs out of Lambda time inside RegisterTaskDefinition (ECS answers too
    late: the revision is registered, the service is not updated). The next job does not see the service
    moved, waits, and makes the change itself under its own announcement: the revision this action registered
    is reused, the service moves once."""
    with Stack(tmp_path) as stack:
        ecs, pipeline = Ecs(stack.emulator), Pipeline(stack, lambda_timeout=4)
        names = {"cluster": "cut", "service": "web", "key": "cut/1"}
        params, artifacts = seed(ecs, pipeline, names)
        stack.emulator.fault("ecs:RegisterTaskDefinition", "delay", times=1, seconds=6)
        pipeline.lambda_timeout = 20
        first_job, event = pipeline.file_job(pipeline.job_data(json.dumps(dict(params, wait=False)), artifacts))
        stack.runtime.invoke(event, timeout=4)
        time.sleep(3)  # ECS finishes the registration the function gave up on
        token = stack.emulator.admin("GET", f"jobs/{first_job}")["reports"][0]["request"]["continuationToken"]
        assert ecs.service("cut", "web")["taskDefinition"].endswith(":1"), "not updated"
        run = pipeline.run(dict(params, wait=False), artifacts=artifacts, token=token)
        assert run.status == "Succeeded", run.failure
        assert "Making the changes" in run.summaries[0] or "About to register" in run.summaries[0], run.summaries
        assert ecs.service("cut", "web")["taskDefinition"].endswith(":2"), "the revision registered first"
        assert len(ecs.revisions("web")) == 2 and len(ecs.deployments("web")) == 2


def test_every_way_onto_a_service_passes_the_image_and_family_allow_lists(tmp_path):
    allowed = {"ALLOWED_IMAGES": f"{REPO}/web", "ALLOWED_FAMILIES": "web,web-*"}
    with Stack(tmp_path, extra_env=allowed) as stack:
        ecs, pipeline, emulator = Ecs(stack.emulator), Pipeline(stack), stack.emulator
        names = {"cluster": "guard", "service": "web", "key": "guard/1"}
        params, artifacts = seed(ecs, pipeline, names)
        assert pipeline.run(params, artifacts=artifacts).status == "Succeeded"  # web:2
        # A revision with a foreign image, and one of a family outside the list.
        ecs.ecs.register_task_definition(family="web", containerDefinitions=[{"name": "web", "image": "attacker.example/web:1"}], **FARGATE)  # web:3
        ecs.ecs.register_task_definition(family="payroll", containerDefinitions=[{"name": "web", "image": NEW}], **FARGATE)  # payroll:1
        emulator.admin("POST", "reset-stats")
        for user, words in [
            (dict(params, taskDefinition="web:3"), "image attacker.example/web:1 is outside ALLOWED_IMAGES"),
            (dict(params, action="rollback", taskDefinition="web:3"), "image attacker.example/web:1 is outside ALLOWED_IMAGES"),
            (dict(params, taskDefinition="payroll:1"), "family payroll is outside ALLOWED_FAMILIES (web, web-*)"),
            (dict(params, action="rollback", taskDefinition="payroll:1"), "family payroll is outside ALLOWED_FAMILIES"),
        ]:
            run = pipeline.run(user, artifacts=[])
            kind, message = run.failure
            assert kind == "ConfigurationError" and words in message, (user, message)
        # A release whose task definition file names a family outside the list.
        taskdef = {"family": "payroll", "containerDefinitions": [{"name": "web", "image": "<IMAGE1_NAME>"}]}
        pipeline.upload("guard/2", zip_bytes({"imagedefinitions.json": image_definitions([("web", NEW + "b")]), "taskdef.json": json.dumps(taskdef)}))
        run = pipeline.run(dict(params, taskDefinitionFile="taskdef.json"), artifacts=[("BuildOutput", "guard/2")])
        kind, message = run.failure
        assert kind == "ConfigurationError" and "family payroll is outside ALLOWED_FAMILIES" in message, message
        assert changes(emulator) == {}, emulator.stats()["calls"]
        assert ecs.service("guard", "web")["taskDefinition"].endswith("web:2")
        assert "ALLOWED_FAMILIES enforced" in stack.logs()
        # The previous revision passes: a rollback by the rule goes through.
        run = pipeline.run(dict(params, action="rollback"), artifacts=[])
        assert run.status == "Succeeded", run.failure


def test_a_dry_run_diff_shows_no_secret(stack, emulator, pipeline, ecs, names):
    secret = "splunk-HEC-token-" + uuid.uuid4().hex + uuid.uuid4().hex
    ecs.seed(names["cluster"], names["service"], [("web", OLD)])
    taskdef = {"family": names["service"], "networkMode": "awsvpc", "requiresCompatibilities": ["FARGATE"], "cpu": "256", "memory": "512",
               "containerDefinitions": [{"name": "web", "image": NEW, "essential": True,
                                         "command": ["serve", "--token", secret],
                                         "environment": [{"name": "API_KEY", "value": secret}],
                                         "dockerLabels": {"auth": secret},
                                         "logConfiguration": {"logDriver": "splunk", "options": {"splunk-token": secret, "splunk-url": "https://x"},
                                                              "secretOptions": [{"name": "hec", "valueFrom": secret}]}}]}
    pipeline.upload(names["key"], zip_bytes({"imagedefinitions.json": image_definitions([("web", NEW)]), "taskdef.json": json.dumps(taskdef)}))
    run = pipeline.run({"cluster": names["cluster"], "service": names["service"], "dryRun": True, "taskDefinitionFile": "taskdef.json"},
                       artifacts=[("BuildOutput", names["key"])])
    assert run.status == "Succeeded", run.failure
    summary = run.report["executionDetails"]["summary"]
    lines = summary.splitlines()
    for shown_as in ["+ web command (3 arguments)", "+ web dockerLabels.auth", "+ web environment API_KEY", "+ web logConfiguration"]:
        assert shown_as in lines, (shown_as, summary)
    windows = {secret[i:i + 8] for i in range(len(secret) - 7)}
    shown = [w for w in windows if w in summary]
    assert not shown, (shown, summary)
    assert secret not in stack.logs()
