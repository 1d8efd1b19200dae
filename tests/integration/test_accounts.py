"""Across accounts and regions, through the release binary: the emulator's STS (moto's, multi-account) hands
out keys that act in the role's account, so what the function registers and updates lands where the target is,
and the call log shows whose keys signed what."""

import json

from emulator.harness import (FUNCTION_KEY_ID, PIPELINE_KEY_ID, Ecs, Pipeline, Stack, image_definitions,
                              zip_bytes)

REPO = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
OLD, NEW = f"{REPO}/web:1111111", f"{REPO}/web:2222222"
ROLLING = {"strategy": "ROLLING", "deploymentCircuitBreaker": {"enable": True, "rollback": True}}
PROD = "arn:aws:iam::210987654321:role/ecs-deployer-target"
STAGING = "arn:aws:iam::310987654321:role/ecs-deployer-target"


def upload(pipeline, key, image=NEW):
    pipeline.upload(key, zip_bytes({"imagedefinitions.json": image_definitions([("web", image)])}))
    return [("BuildOutput", key)]


def revisions(ecs, family):
    return ecs.ecs.list_task_definitions(familyPrefix=family)["taskDefinitionArns"]


def test_a_cross_account_deploy_acts_in_the_target_account_with_the_role(stack, emulator, pipeline, names):
    target = Ecs(emulator, role=PROD)
    home = Ecs(emulator)
    target.seed(names["cluster"], names["service"], [("web", OLD)], config=ROLLING)
    artifacts = upload(pipeline, names["key"])
    emulator.admin("POST", "reset-stats")
    params = {"cluster": names["cluster"], "service": names["service"], "roleArn": PROD, "externalId": "pipeline-7"}
    run = pipeline.run(params, artifacts=artifacts)
    assert run.status == "Succeeded", run.failure
    log = emulator.stats()["log"]
    # Registered and updated in the target account, and nowhere else.
    assert [a.rsplit("/", 1)[-1] for a in revisions(target, names["service"])] == [f"{names['service']}:1", f"{names['service']}:2"]
    assert revisions(home, names["service"]) == []
    assert ":210987654321:" in target.service(names["cluster"], names["service"])["taskDefinition"]
    # Whose keys signed what: the assumed role's on every ECS call, the artifact's on the GETs, the function's
    # own on AssumeRole and the reports, and on the ECR lookup (the image's registry is the function's account,
    # not the target's).
    assumed = emulator.admin("GET", "assumed")
    ours = {c["AccessKeyId"] for c in assumed["credentials"] if c["session"].startswith("codepipeline-")}
    assert ours, assumed
    by_op = lambda prefix: {e["key"] for e in log if e["op"].startswith(prefix)}
    assert by_op("ecs:") and by_op("ecs:") <= ours, log
    assert by_op("ecr:") == {FUNCTION_KEY_ID}
    assert by_op("s3:GetObject") == {PIPELINE_KEY_ID}
    assert by_op("codepipeline:PutJob") == {FUNCTION_KEY_ID}
    assert by_op("sts:AssumeRole") == {FUNCTION_KEY_ID}
    requests = [r for r in assumed["requests"] if r.get("RoleSessionName", "").startswith("codepipeline-")]
    assert {r["RoleArn"] for r in requests} == {PROD} and {r["ExternalId"] for r in requests} == {"pipeline-7"}
    assert requests[0]["RoleSessionName"] == f"codepipeline-{run.jobs[0]['id']}"
    # One AssumeRole per job (the look of each continuation assumes again; nothing else is added).
    assert len(requests) == len(run.jobs)
    summary = run.report["executionDetails"]["summary"]
    assert "(account 210987654321)" in summary, summary
    assert run.variables["TaskDefinitionArn"].startswith("arn:aws:ecs:us-east-1:210987654321:task-definition/")
    # No credential anywhere: tokens, summaries, variables, the function's log at trace.
    secrets = [c[k] for c in assumed["credentials"] for k in ("SecretAccessKey", "SessionToken")]
    texts = [json.dumps(j["reports"]) for j in run.jobs] + [stack.logs()]
    for secret in secrets:
        assert not any(secret in t for t in texts), "an assumed credential leaked"


def test_a_cross_region_deploy(stack, emulator, pipeline, names):
    west = Ecs(emulator, region="eu-west-1")
    west.seed(names["cluster"], names["service"], [("web", OLD)], config=ROLLING)
    artifacts = upload(pipeline, names["key"])
    run = pipeline.run({"cluster": names["cluster"], "service": names["service"], "region": "eu-west-1"}, artifacts=artifacts)
    assert run.status == "Succeeded", run.failure
    assert len(revisions(west, names["service"])) == 2 and revisions(Ecs(emulator), names["service"]) == []
    assert west.service(names["cluster"], names["service"])["taskDefinition"].startswith("arn:aws:ecs:eu-west-1:123456789012:")
    assert "(eu-west-1)" in run.report["executionDetails"]["summary"]


def test_two_accounts_atomic_with_a_failure_in_one(stack, emulator, pipeline, names):
    prod, staging = Ecs(emulator, role=PROD), Ecs(emulator, role=STAGING, region="eu-west-1")
    first, second = f"{names['service']}-a", f"{names['service']}-b"
    prod.seed(names["cluster"], first, [("web", OLD)], config=ROLLING)
    staging.seed(names["cluster"], second, [("web", OLD)], config=ROLLING, scenario="fail")
    artifacts = upload(pipeline, names["key"])
    params = {"atomic": True, "services": [
        {"cluster": names["cluster"], "service": first, "roleArn": PROD},
        {"cluster": names["cluster"], "service": second, "roleArn": STAGING, "region": "eu-west-1"}]}
    run = pipeline.run(params, artifacts=artifacts)
    kind, message = run.failure
    assert kind == "JobFailed", run.failure
    assert second in message and "(account 310987654321, eu-west-1)" in message or second in message, message
    assert prod.service(names["cluster"], first)["taskDefinition"].endswith(f"{first}:1")
    assert staging.service(names["cluster"], second)["taskDefinition"].endswith(f"{second}:1")
    assert ":210987654321:" in prod.service(names["cluster"], first)["taskDefinition"]


def test_assume_role_denied_is_a_permission_error_before_any_change(stack, emulator, pipeline, names):
    target = Ecs(emulator, role=PROD)
    target.seed(names["cluster"], names["service"], [("web", OLD)])
    artifacts = upload(pipeline, names["key"])
    emulator.admin("POST", "deny-assume", {"roles": [PROD]})
    try:
        emulator.admin("POST", "reset-stats")
        run = pipeline.run({"cluster": names["cluster"], "service": names["service"], "roleArn": PROD}, artifacts=artifacts)
    finally:
        emulator.admin("POST", "deny-assume", {"roles": []})
    kind, message = run.failure
    assert kind == "PermissionError", run.failure
    assert f"STS AssumeRole of {PROD} (to reach a target in account 210987654321) failed: AccessDenied" in message, message
    assert '"Action": "sts:AssumeRole"' in message and "target-account-role.yaml" in message
    assert not any(op.startswith("ecs:") for op in emulator.stats()["calls"]), emulator.stats()["calls"]
    assert len(revisions(target, names["service"])) == 1


def test_a_role_outside_allowed_role_arns_is_refused(tmp_path):
    with Stack(tmp_path, extra_env={"ALLOWED_ROLE_ARNS": "arn:aws:iam::210987654321:role/deploy-*"}) as stack:
        emulator, pipeline = stack.emulator, Pipeline(stack)
        artifacts = upload(pipeline, "roles/1")
        run = pipeline.run({"cluster": "c", "service": "s", "roleArn": PROD}, artifacts=artifacts)
        kind, message = run.failure
        assert kind == "ConfigurationError" and f"role {PROD} is outside ALLOWED_ROLE_ARNS" in message, message
        calls = emulator.stats()["calls"]
        assert not any(op.startswith(("sts:", "ecs:")) for op in calls), calls
        assert "ALLOWED_ROLE_ARNS enforced" in stack.logs()


def test_a_rollback_and_a_dry_run_in_the_target_account(stack, emulator, pipeline, names):
    target = Ecs(emulator, role=PROD)
    target.seed(names["cluster"], names["service"], [("web", OLD)], config=ROLLING)
    artifacts = upload(pipeline, names["key"])
    params = {"cluster": names["cluster"], "service": names["service"], "roleArn": PROD}
    dry = pipeline.run(dict(params, dryRun=True), artifacts=artifacts)
    assert dry.status == "Succeeded" and "A deploy would register a new revision" in dry.report["executionDetails"]["summary"]
    assert len(revisions(target, names["service"])) == 1
    assert pipeline.run(params, artifacts=artifacts).status == "Succeeded"
    back = pipeline.run(dict(params, action="rollback"), artifacts=[])
    assert back.status == "Succeeded", back.failure
    assert target.service(names["cluster"], names["service"])["taskDefinition"].endswith(f"{names['service']}:1")


def test_an_image_in_the_target_account_is_looked_up_with_the_role(stack, emulator, pipeline, names):
    target = Ecs(emulator, role=PROD)
    target.seed(names["cluster"], names["service"], [("web", OLD)], config=ROLLING)
    image = "210987654321.dkr.ecr.us-east-1.amazonaws.com/web:3333333"
    artifacts = upload(pipeline, names["key"], image=image)
    emulator.admin("POST", "reset-stats")
    params = {"cluster": names["cluster"], "service": names["service"], "roleArn": PROD, "wait": False}
    run = pipeline.run(params, artifacts=artifacts)
    assert run.status == "Succeeded", run.failure
    log = emulator.stats()["log"]
    ours = {c["AccessKeyId"] for c in emulator.admin("GET", "assumed")["credentials"] if c["session"].startswith("codepipeline-")}
    lookups = {e["key"] for e in log if e["op"] == "ecr:DescribeImages"}
    assert lookups and lookups <= ours, (lookups, ours)
    # A missing tag there says whose credentials looked.
    missing = image.replace("3333333", "4444444")
    pipeline.upload(names["key"] + "-missing", zip_bytes({"imagedefinitions.json": image_definitions([("web", missing)])}), push=False)
    run = pipeline.run(params, artifacts=[("BuildOutput", names["key"] + "-missing")])
    kind, message = run.failure
    assert kind == "ConfigurationError", run.failure
    assert "looked up with the target role's credentials in account 210987654321" in message, message


def test_before_deploy_and_schedules_act_in_the_target_account(stack, emulator, pipeline, names):
    target = Ecs(emulator, role=PROD)
    logs = {"logConfiguration": {"logDriver": "awslogs", "options": {
        "awslogs-group": "/ecs/web", "awslogs-region": "us-east-1", "awslogs-stream-prefix": "ecs"}}}
    td = target.seed(names["cluster"], names["service"], [("web", OLD)], config=ROLLING, td_extra={"container": logs})
    nightly = f"{names['service']}-nightly"
    target.schedule(nightly, td["taskDefinitionArn"])
    target.task_scenario(names["service"], looks=1)
    artifacts = upload(pipeline, names["key"])
    emulator.admin("POST", "reset-stats")
    params = {"cluster": names["cluster"], "service": names["service"], "roleArn": PROD,
              "beforeDeploy": {"command": ["./migrate"]}, "schedules": [nightly]}
    run = pipeline.run(params, artifacts=artifacts)
    assert run.status == "Succeeded", run.failure
    log = emulator.stats()["log"]  # before this test's own look at the schedule
    [request] = [r for r in target.run_requests() if r["startedBy"].endswith(run.jobs[0]["id"])]
    assert request["taskDefinition"].startswith("arn:aws:ecs:us-east-1:210987654321:task-definition/"), request
    moved = target.get_schedule(nightly)["Target"]["EcsParameters"]["TaskDefinitionArn"]
    assert moved == f"arn:aws:ecs:us-east-1:210987654321:task-definition/{names['service']}:2"
    assumed = emulator.admin("GET", "assumed")
    ours = {c["AccessKeyId"] for c in assumed["credentials"] if c["session"].startswith("codepipeline-")}
    signed = {e["key"] for e in log if e["op"] in ("ecs:RunTask", "ecs:DescribeTasks", "scheduler:GetSchedule", "scheduler:UpdateSchedule")}
    assert signed and signed <= ours, log
    # A failing migration's log is read in the target account too.
    target.task_scenario(names["service"], exit_code=3, logs=["migration failed: duplicate key"])
    again = pipeline.run(params, artifacts=upload(pipeline, names["key"] + "-2", f"{REPO}/web:3333333"))
    kind, message = again.failure
    assert kind == "JobFailed" and "exited with code 3" in message and "migration failed: duplicate key" in message, message
    ours = {c["AccessKeyId"] for c in emulator.admin("GET", "assumed")["credentials"] if c["session"].startswith("codepipeline-")}
    read = {e["key"] for e in emulator.stats()["log"] if e["op"] == "logs:GetLogEvents"}
    assert read and read <= ours
