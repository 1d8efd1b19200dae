"""The real binary under a Lambda Runtime API, deploying through the emulator as CodePipeline drives it."""

import json

from emulator.harness import (
    ROOT,
    FUNCTION_KEY_ID, PIPELINE_KEY_ID, image_definitions, zip_bytes,
)

REPO = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
OLD, NEW = f"{REPO}/web:1111111", f"{REPO}/web:2222222"


def params(names, **extra):
    return {"cluster": names["cluster"], "service": names["service"], **extra}


def test_a_job_deploys_one_revision_and_follows_the_rollout(stack, emulator, pipeline, ecs, names):
    base = ecs.seed(names["cluster"], names["service"], [("web", OLD), ("log-router", "fluent-bit:2.32.0")], polls=2)
    pipeline.upload(names["key"], zip_bytes({"src/main.py": "print()\n" * 1000, "imagedefinitions.json": image_definitions([("web", NEW)])}))
    emulator.admin("POST", "reset-stats")
    # The artifact bucket only answers the pipeline's key; ECS, ECR and CodePipeline only the function's.
    emulator.admin("POST", "policy", {"keys": {PIPELINE_KEY_ID: ["s3"], FUNCTION_KEY_ID: ["ecs", "ecr", "codepipeline"]}})

    run = pipeline.run(params(names), artifacts=[("BuildOutput", names["key"])])

    assert run.status == "Succeeded", run.jobs
    assert len(run.jobs) >= 2, "at least one continuation"
    assert run.reports_per_job() == [1] * len(run.jobs)
    for job in run.jobs[:-1]:
        details = job["reports"][0]["request"]["executionDetails"]
        assert "percentComplete" in details
    assert all(answers[-1][0] == "response" and len(answers) == 1 for answers in (j["answers"] for j in run.jobs))

    revisions = ecs.revisions(names["service"])
    assert len(revisions) == 2, "exactly one new revision"
    new = ecs.task_definition(revisions[-1])
    old_td = dict(base)
    new_td = new["taskDefinition"]
    assert [c["image"] for c in new_td["containerDefinitions"]] == [NEW, "fluent-bit:2.32.0"]
    for field in ("family", "networkMode", "requiresCompatibilities", "cpu", "memory", "executionRoleArn", "runtimePlatform", "ephemeralStorage"):
        assert new_td.get(field) == old_td.get(field), field
    tags = {t["key"]: t["value"] for t in new["tags"]}
    assert tags["team"] == "payments" and tags["codepipeline-ecs-deployer:job-id"] == run.jobs[0]["id"]

    service = ecs.service(names["cluster"], names["service"])
    assert service["taskDefinition"] == revisions[-1]
    variables = run.variables
    assert variables["TaskDefinitionArn"] == revisions[-1]
    assert variables["TaskDefinitionRevision"] == "2"
    assert variables["DeploymentId"].startswith("ecs-svc/")

    stats = emulator.stats()
    assert set(stats["signers"]["s3:GetObject"]) == {PIPELINE_KEY_ID}
    for op, keys in stats["signers"].items():
        if not op.startswith("s3:"):
            assert set(keys) == {FUNCTION_KEY_ID}, op
    first = run.jobs[0]["reports"][0]["request"]["executionDetails"]["summary"]
    assert f"web: {OLD} → {NEW}" in first


def test_several_containers_and_image_detail(stack, emulator, pipeline, ecs, names):
    ecs.seed(names["cluster"], names["service"], [("web", OLD), ("worker", f"{REPO}/worker:1111111")])
    pipeline.upload(names["key"], zip_bytes({"imagedefinitions.json": image_definitions([("web", NEW), ("worker", f"{REPO}/worker:2222222")])}))
    run = pipeline.run(params(names, wait=False), artifacts=[("BuildOutput", names["key"])])
    assert run.status == "Succeeded" and len(run.jobs) == 2, "the announcement, then the job that sees it made"
    td = ecs.task_definition(run.variables["TaskDefinitionArn"])["taskDefinition"]
    assert [c["image"] for c in td["containerDefinitions"]] == [NEW, f"{REPO}/worker:2222222"]

    detail = json.dumps({"ImageURI": f"{REPO}/web@sha256:" + "ab" * 32, "ImageTags": ["3333333"]})
    pipeline.upload(names["key"] + "-detail", zip_bytes({"imageDetail.json": detail}))
    run = pipeline.run(params(names, fileName="imageDetail.json", containerName="worker", wait=False),
                       artifacts=[("Image", names["key"] + "-detail")])
    assert run.status == "Succeeded", run.jobs
    td = ecs.task_definition(run.variables["TaskDefinitionArn"])["taskDefinition"]
    assert [c["image"] for c in td["containerDefinitions"]] == [NEW, f"{REPO}/web@sha256:" + "ab" * 32]


def test_a_no_wait_deploy_makes_the_minimum_of_aws_calls(stack, emulator, pipeline, ecs, names):
    ecs.seed(names["cluster"], names["service"], [("web", OLD)])
    pipeline.upload(names["key"], zip_bytes({"imagedefinitions.json": image_definitions([("web", NEW)])}))
    emulator.admin("POST", "reset-stats")
    run = pipeline.run(params(names, wait=False), artifacts=[("BuildOutput", names["key"])])
    assert run.status == "Succeeded"
    calls = emulator.stats()["calls"]
    # Report first, then change: the first job announces (PutJobSuccessResult with a token) before registering
    # and updating; the next job sees the service moved (DescribeServices) and reports the success. A concurrent
    # duplicate of the first job loses at its announcement, so no ListTaskDefinitions guard is needed.
    # DescribeImages: verifyImages (on by default) looks the new image up.
    assert calls == {
        "s3:GetObject": 1, "ecs:DescribeServices": 2, "ecs:DescribeTaskDefinition": 1,
        "ecr:DescribeImages": 1, "ecs:RegisterTaskDefinition": 1, "ecs:UpdateService": 1,
        "codepipeline:PutJobSuccessResult": 2,
    }, calls
    assert sum(calls.values()) <= 10 and len(run.jobs) == 2


def test_a_missing_ecr_tag_is_refused_before_any_change_in_under_a_second(stack, emulator, pipeline, ecs, names):
    """The build pushed web:<sha> but the image file names a tag one character off: refused with the tag that is
    there, before RegisterTaskDefinition, and the whole first invocation takes under a second."""
    repository = f"{REPO}/{names['service']}"
    ecs.seed(names["cluster"], names["service"], [("web", f"{repository}:1111111")])
    registry = pipeline.registry
    for tag in ("1111111", "3f2a9c1", "0a0a0a0"):
        registry.push(f"{repository}:{tag}")
    pipeline.upload(names["key"], zip_bytes({"imagedefinitions.json": image_definitions([("web", f"{repository}:3f2a9c2")])}),
                    push=False)
    emulator.admin("POST", "reset-stats")
    run = pipeline.run(params(names), artifacts=[("BuildOutput", names["key"])])

    kind, message = run.failure
    assert kind == "ConfigurationError", message
    assert f'tag "3f2a9c2" is not in repository "{names["service"]}" (registry 123456789012, us-east-1; looked up with the function\'s own credentials)' in message
    assert 'the closest tags, most recent first: "3f2a9c1"' in message and "0a0a0a0" not in message, message
    stats = emulator.stats()
    assert "ecs:RegisterTaskDefinition" not in stats["calls"] and "ecs:UpdateService" not in stats["calls"], stats["calls"]
    assert stats["calls"]["ecr:DescribeImages"] == 2, stats["calls"]  # the lookup, then the repository's tags
    started = stats["log"][0]["at"]
    reported = next(e["at"] for e in stats["log"] if e["op"] == "codepipeline:PutJobFailureResult")
    assert reported - started < 1.0, f"{reported - started:.3f} s from the first AWS call to the report"
    assert run.reports_per_job() == [1]


def test_the_digest_ecr_holds_is_in_the_summary_and_denied_lookups_say_the_fix(stack, emulator, pipeline, ecs, names):
    ecs.seed(names["cluster"], names["service"], [("web", OLD)])
    pipeline.upload(names["key"], zip_bytes({"imagedefinitions.json": image_definitions([("web", NEW)])}))
    digest = emulator.client("ecr").describe_images(repositoryName="web", imageIds=[{"imageTag": "2222222"}])["imageDetails"][0]["imageDigest"]
    run = pipeline.run(params(names, wait=False), artifacts=[("BuildOutput", names["key"])])
    assert run.status == "Succeeded"
    assert run.said(f"verified in ECR: {NEW} is {digest}"), run.summaries

    # The function's role without ecr:DescribeImages.
    pipeline.upload(names["key"] + "-3", zip_bytes({"imagedefinitions.json": image_definitions([("web", f"{REPO}/web:3333333")])}))
    emulator.admin("POST", "policy", {"keys": {PIPELINE_KEY_ID: ["s3"], FUNCTION_KEY_ID: ["ecs", "codepipeline"]}})
    run = pipeline.run(params(names, wait=False), artifacts=[("BuildOutput", names["key"] + "-3")])
    kind, message = run.failure
    assert kind == "PermissionError", message
    assert "DescribeImages for ECR repository arn:aws:ecr:us-east-1:123456789012:repository/web (looked up with the function's own credentials) failed" in message
    assert "AccessDeniedException" in message and '"verifyImages": false' in message

    # verifyImages: false deploys without asking ECR.
    emulator.admin("POST", "reset-stats")
    run = pipeline.run(params(names, wait=False, verifyImages=False), artifacts=[("BuildOutput", names["key"] + "-3")])
    assert run.status == "Succeeded", run.failure
    assert "ecr:DescribeImages" not in emulator.stats()["calls"]
    assert ecs.service(names["cluster"], names["service"])["taskDefinition"].endswith(":3")


def test_task_definition_members_our_sdk_does_not_know_are_kept(stack, emulator, pipeline, ecs, names):
    """ECS's trustedExecutionConfiguration (not in aws-sdk-ecs 1.157) and an invented future member, at the top
    and in a container, survive a deploy: the SDK would drop them; the raw JSON carry-over keeps them."""
    extra = {"top": {"trustedExecutionConfiguration": {"isolationMode": "ISOLATED_SANDBOX"}, "futureMember": {"x": [1, 2]}},
             "container": {"futureContainerMember": "kept"}}
    ecs.seed(names["cluster"], names["service"], [("web", OLD), ("sidecar", f"{REPO}/sidecar:1")], td_extra=extra)
    pipeline.upload(names["key"], zip_bytes({"imagedefinitions.json": image_definitions([("web", NEW)])}))
    run = pipeline.run(params(names, wait=False), artifacts=[("BuildOutput", names["key"])])
    assert run.status == "Succeeded", run.jobs
    new = ecs.task_definition_raw(run.variables["TaskDefinitionArn"])
    assert new["trustedExecutionConfiguration"] == {"isolationMode": "ISOLATED_SANDBOX"}
    assert new["futureMember"] == {"x": [1, 2]}
    assert new["containerDefinitions"][0]["futureContainerMember"] == "kept"
    assert new["containerDefinitions"][0]["image"] == NEW
    summary = "\n".join(run.summaries)
    assert "kept task definition members this function's SDK does not model" in summary, summary
    assert "trustedExecutionConfiguration" in summary and "containerDefinitions[0].futureContainerMember" in summary


def test_a_dry_run_shows_the_diff_and_changes_nothing(stack, emulator, pipeline, ecs, names):
    base = ecs.seed(names["cluster"], names["service"], [("web", OLD), ("log-router", "fluent-bit:2.32.0")])
    pipeline.upload(names["key"], zip_bytes({"imagedefinitions.json": image_definitions([("web", NEW)])}))
    emulator.admin("POST", "reset-stats")

    run = pipeline.run(params(names, dryRun=True), artifacts=[("BuildOutput", names["key"])])

    assert run.status == "Succeeded" and len(run.jobs) == 1, run.jobs
    calls = emulator.stats()["calls"]
    changes = [op for op in calls if op.split(":")[1].startswith(("Register", "Update", "Tag", "Deregister", "Create", "Delete"))]
    assert changes == [], calls
    assert ecs.revisions(names["service"]) == [base["taskDefinitionArn"]]
    assert ecs.service(names["cluster"], names["service"])["taskDefinition"] == base["taskDefinitionArn"]
    summary = "\n".join(run.summaries)
    assert f"~ web image {OLD} → {NEW}" in summary, summary
    assert "fluent-bit" not in summary, "an unchanged container is no difference"
    assert run.variables["DryRun"] == "true"


def test_a_deploy_file_holds_what_user_parameters_could_not(stack, emulator, pipeline, ecs, names):
    """CodePipeline caps an action's configuration value at 1000 characters; the deploy file has no such cap."""
    ecs.seed(names["cluster"], names["service"], [("web", OLD)])
    deploy_file = {"wait": False, "fileName": "build/out/" + "nested/" * 150 + "imagedefinitions.json", "timeoutMinutes": 45}
    assert len(json.dumps({**params(names), **deploy_file})) > 1000
    pipeline.upload(names["key"], zip_bytes({
        "deploy.json": json.dumps(deploy_file),
        deploy_file["fileName"]: image_definitions([("web", NEW)]),
    }))
    emulator.admin("POST", "reset-stats")

    run = pipeline.run(params(names, deployFile="deploy.json"), artifacts=[("BuildOutput", names["key"])])

    assert run.status == "Succeeded" and len(run.jobs) == 2, run.jobs  # wait: false, from the file
    assert emulator.stats()["calls"]["s3:GetObject"] == 1, "both files from one ranged GET"
    td = ecs.task_definition(ecs.service(names["cluster"], names["service"])["taskDefinition"])["taskDefinition"]
    assert td["containerDefinitions"][0]["image"] == NEW

    # Set in both places: refused before anything changes.
    run = pipeline.run(params(names, deployFile="deploy.json", timeoutMinutes=10), artifacts=[("BuildOutput", names["key"])])
    kind, message = run.failure
    assert kind == "ConfigurationError", run.jobs
    assert 'sets "timeoutMinutes", which UserParameters sets too; set it in one place' in message, message


def test_overrides_land_in_the_revision_and_their_values_stay_out_of_logs(stack, emulator, pipeline, ecs, names):
    ecs.seed(names["cluster"], names["service"], [("web", OLD), ("log-router", "fluent-bit:2.32.0")])
    pipeline.upload(names["key"], zip_bytes({"imagedefinitions.json": image_definitions([("web", NEW)])}))
    secret_value = "env-VALUE-that-may-be-a-secret-" + names["service"]
    secret_arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-password-AbCdEf"
    overrides = {
        "containers": {"web": {
            "environment": {"DATABASE_URL": secret_value, "LOG_LEVEL": "debug"},
            "secrets": {"DB_PASSWORD": secret_arn},
            "command": ["serve", "--port", "8080"],
        }},
        "cpu": "0.5 vCPU", "memory": "1 GB",
        "taskRoleArn": "arn:aws:iam::123456789012:role/web-task",
    }

    run = pipeline.run(params(names, wait=False, **overrides), artifacts=[("BuildOutput", names["key"])])

    assert run.status == "Succeeded", run.jobs
    td = ecs.task_definition(ecs.service(names["cluster"], names["service"])["taskDefinition"])["taskDefinition"]
    web = td["containerDefinitions"][0]
    assert web["image"] == NEW
    assert {e["name"]: e["value"] for e in web["environment"]} == {"DATABASE_URL": secret_value, "LOG_LEVEL": "debug"}
    assert web["secrets"] == [{"name": "DB_PASSWORD", "valueFrom": secret_arn}]
    assert web["command"] == ["serve", "--port", "8080"]
    assert (td["cpu"], td["memory"], td["taskRoleArn"]) == ("512", "1024", "arn:aws:iam::123456789012:role/web-task")
    assert td["containerDefinitions"][1]["image"] == "fluent-bit:2.32.0" and "environment" not in td["containerDefinitions"][1]
    summary = "\n".join(run.summaries)
    assert "override containers.web.environment: +DATABASE_URL +LOG_LEVEL" in summary, summary
    assert "override containers.web.secrets: +DB_PASSWORD" in summary, summary
    assert secret_value not in summary and "debug" not in summary
    assert secret_value not in stack.logs(), "an environment value reached the function's logs"

    # A bad pair is refused before anything changes, naming the key.
    before = ecs.revisions(names["service"])
    run = pipeline.run(params(names, wait=False, cpu=256, memory="4 GB"), artifacts=[("BuildOutput", names["key"])])
    kind, message = run.failure
    assert kind == "ConfigurationError" and '"cpu" makes 256 CPU units with 4096 MiB, which Fargate does not run' in message, message
    run = pipeline.run(params(names, wait=False, containers={"api": {"environment": {"X": "1"}}}), artifacts=[("BuildOutput", names["key"])])
    kind, message = run.failure
    assert kind == "ConfigurationError" and '"containers.api" names no container' in message, message
    assert ecs.revisions(names["service"]) == before


def test_keep_revisions_leaves_the_newest_n_and_the_protected_ones(stack, emulator, pipeline, ecs, names):
    base = ecs.seed(names["cluster"], names["service"], [("web", OLD)])
    for i in range(7):  # revisions 2..8, registered but never deployed
        ecs.ecs.register_task_definition(family=names["service"], containerDefinitions=[{"name": "web", "image": f"{REPO}/web:old{i}"}],
                                         requiresCompatibilities=["FARGATE"], networkMode="awsvpc", cpu="256", memory="512")
    pipeline.upload(names["key"], zip_bytes({"imagedefinitions.json": image_definitions([("web", NEW)])}))

    run = pipeline.run(params(names, keepRevisions=2), artifacts=[("BuildOutput", names["key"])])

    assert run.status == "Succeeded", run.jobs
    active = ecs.ecs.list_task_definitions(familyPrefix=names["service"], status="ACTIVE")["taskDefinitionArns"]
    numbers = sorted(int(a.rsplit(":", 1)[1]) for a in active)
    # The newest two (9: this release; 8), and revision 1: replaced by this deploy and the last successful one.
    assert numbers == [1, 8, 9], numbers
    assert base["taskDefinitionArn"] in active
    summary = "\n".join(run.summaries)
    assert f"keepRevisions 2: deregistered 6 old revision(s) of {names['service']}" in summary, summary
    assert "3 ACTIVE remain" in summary, summary


def test_a_repository_taskdef_with_placeholders_deploys(stack, emulator, pipeline, ecs, names):
    ecs.seed(names["cluster"], names["service"], [("web", OLD)])
    taskdef = json.loads((ROOT / "tests/fixtures/taskdef-fargate.json").read_text())
    taskdef["family"] = names["service"] + "-v2"
    taskdef["containerDefinitions"][1]["image"] = "<IMAGE2_NAME>"
    taskdef["trustedExecutionConfiguration"] = {"isolationMode": "ISOLATED_SANDBOX"}  # in ECS's model, not our SDK's
    sidecar = "123456789012.dkr.ecr.us-east-1.amazonaws.com/fluent-bit:2.32.0"
    pipeline.upload(names["key"], zip_bytes({
        "taskdef.json": json.dumps(taskdef),
        "imagedefinitions.json": image_definitions([("web", NEW), ("log-router", sidecar)]),
    }))

    run = pipeline.run(params(names, wait=False, taskDefinitionFile="taskdef.json"), artifacts=[("BuildOutput", names["key"])])

    assert run.status == "Succeeded", run.jobs
    arn = ecs.service(names["cluster"], names["service"])["taskDefinition"]
    assert arn.endswith(f"/{names['service']}-v2:1"), arn
    described = ecs.task_definition(arn)
    td = described["taskDefinition"]
    assert [c["image"] for c in td["containerDefinitions"]] == [NEW, sidecar]
    assert td["containerDefinitions"][0]["healthCheck"]["retries"] == 3
    assert td["trustedExecutionConfiguration"] == {"isolationMode": "ISOLATED_SANDBOX"}
    assert {t["key"] for t in described["tags"]} == {"team", "codepipeline-ecs-deployer:job-id"}
    summary = "\n".join(run.summaries)
    assert f"from taskdef.json (the service ran {names['service']}:1; a new family for this service" in summary, summary

    # A placeholder no image fills, and a typo: refused before anything is registered.
    before = ecs.revisions(names["service"] + "-v2")
    for change, words in [
        ({"imagedefinitions.json": image_definitions([("web", NEW)])}, "leaves container \"log-router\" with the placeholder image \"<IMAGE2_NAME>\""),
        ({"taskdef.json": json.dumps({**taskdef, "memroy": "512"})}, "unknown member \"memroy\"; did you mean \"memory\"?"),
    ]:
        files = {"taskdef.json": json.dumps(taskdef), "imagedefinitions.json": image_definitions([("web", NEW), ("log-router", sidecar)])}
        files.update(change)
        pipeline.upload(names["key"], zip_bytes(files))
        run = pipeline.run(params(names, wait=False, taskDefinitionFile="taskdef.json"), artifacts=[("BuildOutput", names["key"])])
        kind, message = run.failure
        assert kind == "ConfigurationError" and words in message, message
    assert ecs.revisions(names["service"] + "-v2") == before
