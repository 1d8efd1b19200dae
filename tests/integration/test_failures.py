"""Failures through the real binary: each gets one report of the right type, nothing deploys by accident,
faults are retried or reported, and retries and duplicate deliveries never deploy twice."""

import json
import time

import pytest

from emulator.harness import FUNCTION_KEY_ID, image_definitions, zip_bytes

REPO = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
OLD, NEW = f"{REPO}/web:1111111", f"{REPO}/web:2222222"


def params(names, **extra):
    return json.dumps({"cluster": names["cluster"], "service": names["service"], "wait": False, **extra})


def setup(ecs, pipeline, names, archive=None, **seed):
    ecs.seed(names["cluster"], names["service"], [("web", OLD)], **seed)
    pipeline.upload(names["key"], archive or zip_bytes({"imagedefinitions.json": image_definitions([("web", NEW)])}))
    pipeline.emulator.admin("POST", "reset-stats")
    return [("BuildOutput", names["key"])]


def assert_one_failure(run, failure_type, *words):
    assert set(run.reports_per_job()) == {1}, run.jobs
    kind, message = run.failure
    assert kind == failure_type, message
    for w in words:
        assert w in message, f"{message!r} lacks {w!r}"
    return message


@pytest.mark.parametrize("case", ["typo", "missing service", "missing cluster", "unknown container", "code deploy", "missing file"])
def test_configuration_errors(stack, emulator, pipeline, ecs, names, case):
    artifacts = setup(ecs, pipeline, names, controller="CODE_DEPLOY" if case == "code deploy" else None)
    user = {
        "typo": json.dumps({"cluster": names["cluster"], "servce": names["service"]}),
        "missing service": json.dumps({"cluster": names["cluster"], "service": "nope", "wait": False}),
        "missing cluster": json.dumps({"cluster": "no-such-cluster", "service": names["service"], "wait": False}),
        "unknown container": params(names),
        "code deploy": params(names),
        "missing file": params(names, fileName="deploy/imagedefinitions.json"),
    }[case]
    if case == "unknown container":
        pipeline.upload(names["key"], zip_bytes({"imagedefinitions.json": image_definitions([("api", NEW)])}))
    run = pipeline.run(user, artifacts=artifacts)
    words = {
        "typo": ["did you mean \"service\""],
        "missing service": ["service \"nope\" was not found", "MISSING"],
        "missing cluster": ["ClusterNotFoundException"],
        "unknown container": ["no container named \"api\"", "\"web\""],
        "code deploy": ["CODE_DEPLOY deployment controller"],
        "missing file": ["has no deploy/imagedefinitions.json"],
    }[case]
    assert_one_failure(run, "ConfigurationError", *words)
    assert len(ecs.revisions(names["service"])) == 1, "nothing registered"
    assert all(f.alive() for f in stack.functions)


def test_a_missing_artifact_is_revision_unavailable(stack, emulator, pipeline, ecs, names):
    setup(ecs, pipeline, names)
    run = pipeline.run(params(names), artifacts=[("BuildOutput", "pipeline/BuildOutpu/expired")])
    assert_one_failure(run, "RevisionUnavailable", "NoSuchKey", "re-run the pipeline")


def test_artifact_access_denied_names_the_pipeline_role(stack, emulator, pipeline, ecs, names):
    artifacts = setup(ecs, pipeline, names)
    emulator.admin("POST", "policy", {"keys": {FUNCTION_KEY_ID: ["ecs", "codepipeline", "s3"]}})  # the pipeline key may not read
    run = pipeline.run(params(names), artifacts=artifacts)
    assert_one_failure(run, "PermissionError", "AccessDenied", "pipeline's service role s3:GetObject")
    assert len(ecs.revisions(names["service"])) == 1


def test_ecs_access_denied_is_a_permission_error(stack, emulator, pipeline, ecs, names):
    artifacts = setup(ecs, pipeline, names)
    emulator.fault("ecs:RegisterTaskDefinition", "denied", times=-1)
    run = pipeline.run(params(names), artifacts=artifacts)
    assert_one_failure(run, "PermissionError", "AccessDeniedException", "allow the function's role ecs:RegisterTaskDefinition")
    assert len(ecs.revisions(names["service"])) == 1


def test_a_broken_artifact_is_job_failed(stack, emulator, pipeline, ecs, names):
    artifacts = setup(ecs, pipeline, names, archive=b"definitely not a zip archive")
    run = pipeline.run(params(names), artifacts=artifacts)
    assert_one_failure(run, "JobFailed", "is not a zip file")


@pytest.mark.parametrize("op", [
    "s3:GetObject", "ecs:DescribeServices", "ecs:DescribeTaskDefinition", "ecs:RegisterTaskDefinition",
    "ecs:UpdateService", "codepipeline:PutJobSuccessResult",
])
@pytest.mark.parametrize("kind", ["throttle", "5xx", "reset"])
def test_transient_faults_are_retried_and_the_job_succeeds(stack, emulator, pipeline, ecs, names, op, kind):
    artifacts = setup(ecs, pipeline, names)
    emulator.fault(op, kind, times=2 if kind != "reset" else 1)
    run = pipeline.run(params(names), artifacts=artifacts)
    assert run.status == "Succeeded", run.jobs
    assert set(run.reports_per_job()) == {1}
    assert len(ecs.revisions(names["service"])) == 2
    assert emulator.stats()["calls"].get(op, 0) >= 2


@pytest.mark.parametrize("op,kind,expected", [
    ("ecs:DescribeServices", "throttle", "SystemUnavailable"),
    ("ecs:UpdateService", "5xx", "SystemUnavailable"),
    ("s3:GetObject", "5xx", "SystemUnavailable"),
    ("ecs:DescribeTaskDefinition", "denied", "PermissionError"),
])
def test_persistent_faults_end_in_one_failure_report(stack, emulator, pipeline, ecs, names, op, kind, expected):
    artifacts = setup(ecs, pipeline, names)
    emulator.fault(op, kind, times=-1)
    started = time.monotonic()
    run = pipeline.run(params(names), artifacts=artifacts)
    assert_one_failure(run, expected)
    assert time.monotonic() - started < 30
    emulator.admin("DELETE", "faults")
    service = ecs.service(names["cluster"], names["service"])
    assert service["taskDefinition"].endswith(":1"), "the service was not moved"


def test_a_slow_aws_is_answered_before_the_lambda_deadline(stack, emulator, pipeline, ecs, names):
    artifacts = setup(ecs, pipeline, names)
    emulator.fault("ecs:DescribeServices", "delay", times=-1, seconds=9)
    job_id, event = pipeline.file_job(pipeline.job_data(params(names), artifacts))
    started = time.monotonic()
    answers = pipeline.invoke(event, retries=0, timeout=8)
    elapsed = time.monotonic() - started
    assert answers[0][0] == "response" and elapsed < 8, (answers, elapsed)
    job = emulator.admin("GET", f"jobs/{job_id}")
    details = job["reports"][0]["request"]["failureDetails"]
    assert details["type"] == "SystemUnavailable" and "ran out of time while describing service" in details["message"]
    emulator.admin("DELETE", "faults")
    time.sleep(1.5)  # let the emulator finish the slow answers before the next test


def test_a_lost_report_is_retried_by_lambda_without_deploying_again(stack, emulator, pipeline, ecs, names):
    artifacts = setup(ecs, pipeline, names)
    emulator.fault("codepipeline:PutJobSuccessResult", "5xx", times=5)  # every attempt of the first invocation
    run = pipeline.run(params(names), artifacts=artifacts)
    answers = run.jobs[0]["answers"]  # the announcement could not be delivered: nothing changed, Lambda retried
    assert [kind for kind, _ in answers] == ["error", "response"], answers
    assert run.status == "Succeeded" and set(run.reports_per_job()) == {1}
    assert len(ecs.revisions(names["service"])) == 2, "one revision: the retry found the job's tag"
    assert emulator.stats()["calls"]["ecs:RegisterTaskDefinition"] == 1


def test_duplicate_deliveries_deploy_and_report_once(stack, emulator, pipeline, ecs, names):
    artifacts = setup(ecs, pipeline, names)
    job_id, event = pipeline.file_job(pipeline.job_data(params(names), artifacts))
    first = pipeline.invoke(event, retries=0)
    again = pipeline.invoke(event, retries=0)
    assert first[0][0] == again[0][0] == "response"
    assert again[0][1]["outcome"] in ("duplicate", "not reported")
    # A fresh process (no memory of the job) gets the same event: the revision's tag stops a second deploy.
    old = stack.functions.pop(0)
    old.stop()
    stack.start_function()
    third = pipeline.invoke(event, retries=0)
    assert third[0][1]["outcome"] == "not reported"
    job = emulator.admin("GET", f"jobs/{job_id}")
    assert len(job["reports"]) == 1
    calls = emulator.stats()["calls"]
    assert calls["ecs:RegisterTaskDefinition"] == 1 and calls["ecs:UpdateService"] == 1
    assert len(ecs.revisions(names["service"])) == 2


def test_slow_answers_on_every_operation_still_deploy(stack, emulator, pipeline, ecs, names):
    artifacts = setup(ecs, pipeline, names)
    for op in ("s3:GetObject", "ecs:DescribeServices", "ecs:DescribeTaskDefinition", "ecs:RegisterTaskDefinition",
               "ecs:UpdateService", "codepipeline:PutJobSuccessResult"):
        emulator.fault(op, "delay", times=1, seconds=1.5)
    run = pipeline.run(params(names), artifacts=artifacts)
    assert run.status == "Succeeded" and set(run.reports_per_job()) == {1}
    assert len(ecs.revisions(names["service"])) == 2


def test_a_failure_report_is_retried_too(stack, emulator, pipeline, ecs, names):
    artifacts = setup(ecs, pipeline, names)
    emulator.fault("codepipeline:PutJobFailureResult", "throttle", times=2)
    run = pipeline.run(json.dumps({"cluster": names["cluster"]}), artifacts=artifacts)
    assert_one_failure(run, "ConfigurationError", "\"service\" is required")
    assert emulator.stats()["calls"]["codepipeline:PutJobFailureResult"] == 3


@pytest.mark.parametrize("op", ["ecs:ListTasks", "ecs:DescribeTasks"])
def test_failing_diagnostics_do_not_hide_a_rollback(stack, emulator, pipeline, ecs, names, op):
    artifacts = setup(ecs, pipeline, names, scenario="fail", polls=1)
    emulator.fault(op, "denied", times=-1)
    run = pipeline.run(json.dumps({"cluster": names["cluster"], "service": names["service"]}), artifacts=artifacts)
    kind, message = run.failure
    assert kind == "JobFailed" and "ECS deployment circuit breaker" in message, message
    assert "unavailable" in message and "AccessDeniedException" in message, message
    assert "ECS is rolling back" in message and "rolling back to " in message, message


def test_a_forged_invocation_changes_nothing(tmp_path):
    """Anyone allowed to invoke the function could send an event of their own making: an image or an artifact
    bucket outside the allow-lists is refused before anything changes."""
    from emulator.harness import Ecs, Pipeline, Stack

    allowed = {"ALLOWED_IMAGES": f"{REPO}/web", "ALLOWED_ARTIFACT_BUCKETS": "codepipeline-artifacts-demo"}
    with Stack(tmp_path, extra_env=allowed) as stack:
        ecs, pipeline = Ecs(stack.emulator), Pipeline(stack)
        ecs.seed("guarded", "web", [("web", OLD)])
        pipeline.upload("forged/1", zip_bytes({"imagedefinitions.json": image_definitions([("web", "attacker.example/web:1")])}))
        pipeline.upload("forged/2", zip_bytes({"imagedefinitions.json": image_definitions([("web", f"{REPO}.attacker.example/web:1")])}))
        user = json.dumps({"cluster": "guarded", "service": "web", "wait": False})
        for key, words in (("forged/1", "image attacker.example/web:1 is outside ALLOWED_IMAGES"),
                           ("forged/2", "is outside ALLOWED_IMAGES")):
            run = pipeline.run(user, artifacts=[("BuildOutput", key)])
            assert_one_failure(run, "ConfigurationError", words)
        data = pipeline.job_data(user, [("BuildOutput", "forged/1")])
        data["inputArtifacts"][0]["location"]["s3Location"]["bucketName"] = "someone-elses-bucket"
        job_id, event = pipeline.file_job(data)
        pipeline.invoke(event)
        details = stack.emulator.admin("GET", f"jobs/{job_id}")["reports"][0]["request"]["failureDetails"]
        assert details["type"] == "ConfigurationError" and "outside ALLOWED_ARTIFACT_BUCKETS" in details["message"], details
        assert len(ecs.revisions("web")) == 1, "nothing registered"
        assert ecs.service("guarded", "web")["taskDefinition"].endswith("web:1"), "nothing updated"
        assert "ALLOWED_IMAGES enforced, ALLOWED_ARTIFACT_BUCKETS enforced" in stack.logs()
        pipeline.upload("good/1", zip_bytes({"imagedefinitions.json": image_definitions([("web", NEW)])}))
        assert pipeline.run(user, artifacts=[("BuildOutput", "good/1")]).status == "Succeeded"
