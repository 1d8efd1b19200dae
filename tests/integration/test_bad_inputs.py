"""The bad-input matrix through the real binary: every case gets one failure report of the right type with a
clear message (or, for events that name no job, an invocation error), nothing is registered, and the
process lives on."""

import copy
import io
import json
import struct
import uuid
import warnings
import zipfile

import pytest

from emulator.harness import image_definitions, zip_bytes

REPO = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
GOOD = image_definitions([("web", f"{REPO}/web:2222222")])


def stored(files):
    return zip_bytes(files, compression=zipfile.ZIP_STORED)


def bomb():
    """imagedefinitions.json declared as 90 bytes, inflating to 50 MiB."""
    data = zip_bytes({"imagedefinitions.json": b"[" + b" " * (50 << 20) + b"]"})
    central = data.rfind(b"PK\x01\x02")
    patched = bytearray(data)
    patched[central + 24:central + 28] = struct.pack("<I", 90)
    return bytes(patched)


def many_entries(n=10_000, with_file=False):
    files = {f"node_modules/pkg-{i:05}/index.js": "" for i in range(n)}
    if with_file:
        files["imagedefinitions.json"] = GOOD
    return stored(files)


def duplicate_entries():
    buffer = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buffer, "w") as z:
        warnings.simplefilter("ignore")  # a duplicate name is the point
        z.writestr("imagedefinitions.json", GOOD)
        z.writestr("imagedefinitions.json", GOOD.replace("2222222", "3333333"))
    return buffer.getvalue()


def traversal():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        info = zipfile.ZipInfo("x")
        z.writestr(info, "")
        for name in ("../imagedefinitions.json", "/etc/imagedefinitions.json"):
            info = zipfile.ZipInfo("placeholder")
            info.filename = name  # zipfile would sanitize the name in ZipInfo(); set it raw
            z.writestr(info, GOOD)
    return buffer.getvalue()


# (name, artifact bytes or None for the standard one, UserParameters changes, failure type, words)
ARTIFACT_CASES = [
    ("not a zip", b"GIF89a this is an image, not a zip", {}, "JobFailed", "is not a zip file"),
    ("empty object", b"", {}, "JobFailed", "is not a zip file"),
    ("truncated tail", zip_bytes({"imagedefinitions.json": GOOD, "pad.bin": "x" * 5000})[:-7], {}, "JobFailed", "is not a zip file"),
    ("truncated front", zip_bytes({"a.bin": bytes(range(256)) * 300, "imagedefinitions.json": GOOD}, zipfile.ZIP_STORED)[40_000:], {}, "JobFailed", "zip"),
    ("zip bomb", bomb(), {}, "JobFailed", "zip bomb"),
    ("path traversal names", traversal(), {}, "ConfigurationError", "has no imagedefinitions.json"),
    ("duplicate entries", duplicate_entries(), {}, "JobFailed", "2 entries named imagedefinitions.json"),
    ("10 000 entries without the file", many_entries(), {}, "ConfigurationError", "(10000 entries, such as node_modules/pkg-00000/index.js"),
    ("unicode look-alike name", stored({"imagedefinitions．json": GOOD, "ünïcödé/ファイル.txt": "x"}), {}, "ConfigurationError", "has no imagedefinitions.json"),
    ("in two folders", stored({"a/imagedefinitions.json": GOOD, "b/imagedefinitions.json": GOOD}), {}, "ConfigurationError", "set \"fileName\""),
    ("encrypted entry", None, {}, None, None),  # replaced below
    ("file: not JSON", stored({"imagedefinitions.json": "name=web image=repo:tag"}), {}, "JobFailed", "is not valid JSON"),
    ("file: empty", stored({"imagedefinitions.json": ""}), {}, "JobFailed", "is empty"),
    ("file: object without ImageURI", stored({"imagedefinitions.json": '{"name":"web"}'}), {}, "JobFailed", "\"ImageURI\" is missing"),
    ("file: string", stored({"imagedefinitions.json": '"web"'}), {}, "JobFailed", "not a string"),
    ("file: empty array", stored({"imagedefinitions.json": "[]"}), {}, "JobFailed", "empty array"),
    ("file: null entry", stored({"imagedefinitions.json": "[null]"}), {}, "JobFailed", "entry 0: must be an object"),
    ("file: null imageUri", stored({"imagedefinitions.json": '[{"name":"web","imageUri":null}]'}), {}, "JobFailed", "\"imageUri\" must be a string, not null"),
    ("file: number name", stored({"imagedefinitions.json": '[{"name":7,"imageUri":"r:t"}]'}), {}, "JobFailed", "\"name\" must be a string, not a number"),
    ("file: case of keys", stored({"imagedefinitions.json": '[{"Name":"web","ImageUri":"r:t"}]'}), {}, "JobFailed", "keys are case-sensitive"),
    ("file: blank image", stored({"imagedefinitions.json": '[{"name":"web","imageUri":""}]'}), {}, "JobFailed", "\"imageUri\" is empty"),
    ("file: spaces in image", stored({"imagedefinitions.json": '[{"name":"web","imageUri":"repo:a b"}]'}), {}, "JobFailed", "not valid in an image reference"),
    ("file: duplicate container", stored({"imagedefinitions.json": image_definitions([("web", "r:1"), ("web", "r:2")])}), {}, "JobFailed", "more than once"),
    ("file: 100 KB + 1", stored({"imagedefinitions.json": GOOD + " " * (102_401 - len(GOOD))}), {}, "JobFailed", "more than 102400 bytes is refused"),
    ("file: byte order mark", stored({"imagedefinitions.json": b"\xef\xbb\xbf" + GOOD.encode()}), {}, "JobFailed", "byte order mark"),
    ("file: trailing garbage", stored({"imagedefinitions.json": GOOD + " ]]"}), {}, "JobFailed", "trailing characters"),
    ("file: unknown container", stored({"imagedefinitions.json": image_definitions([("api", "r:1")])}), {}, "ConfigurationError", "no container named \"api\""),
    ("imageDetail without containerName", stored({"imagedefinitions.json": '{"ImageURI":"r@sha256:00"}'}), {}, "ConfigurationError", "set \"containerName\""),
    ("containerName with imagedefinitions", None, {"containerName": "web"}, "ConfigurationError", "only used with an imageDetail.json"),
]


def encrypted():
    data = bytearray(stored({"imagedefinitions.json": GOOD}))
    central = data.rfind(b"PK\x01\x02")
    data[central + 8] |= 1
    return bytes(data)


ARTIFACT_CASES[10] = ("encrypted entry", encrypted(), {}, "JobFailed", "encrypted")

PARAMETER_CASES = [
    ("UserParameters missing", None, "ConfigurationError", "UserParameters is missing"),
    ("UserParameters not JSON", "cluster=demo", "ConfigurationError", "not valid JSON"),
    ("UserParameters array", '["demo","web"]', "ConfigurationError", "not an array"),
    ("huge UserParameters", json.dumps({"cluster": "c", "service": "s", "x" * 200_000: 1}), "ConfigurationError", "unknown key"),
    ("wrong type", '{"cluster":"c","service":"s","timeoutMinutes":"60"}', "ConfigurationError", "\"timeoutMinutes\" must be a whole number"),
    ("out of range", '{"cluster":"c","service":"s","timeoutMinutes":100000}', "ConfigurationError", "from 1 to 1440"),
    ("typo", '{"cluster":"c","service":"s","forceNewDeploymnet":true}', "ConfigurationError", "did you mean \"forceNewDeployment\""),
]


def event_cases(job):
    """Events that name a job: the job is answered with a ConfigurationError."""
    data = job["data"]
    cases = []

    def case(name, change, words):
        e = copy.deepcopy(data)
        change(e)
        cases.append((name, e, words))

    case("no inputArtifacts key", lambda d: d.pop("inputArtifacts"), "inputArtifacts")
    case("inputArtifacts wrong type", lambda d: d.update(inputArtifacts="BuildOutput"), "inputArtifacts has the wrong type (expected a sequence)")
    case("empty inputArtifacts", lambda d: d.update(inputArtifacts=[]), "has no input artifact")
    case("several artifacts, none named", lambda d: d["inputArtifacts"].append(copy.deepcopy(d["inputArtifacts"][0]) | {"name": "Source"}), "several input artifacts")
    case("artifact without location", lambda d: d["inputArtifacts"][0].pop("location"), "location")
    case("no artifactCredentials", lambda d: d.pop("artifactCredentials"), "artifactCredentials")
    case("credentials wrong type", lambda d: d.update(artifactCredentials=["AKIA", "secret"]), "artifactCredentials")
    case("credentials without secret", lambda d: d["artifactCredentials"].pop("secretAccessKey"), "lacks accessKeyId or secretAccessKey")
    case("no actionConfiguration", lambda d: d.pop("actionConfiguration"), "actionConfiguration")
    case("continuation token not ours", lambda d: d.update(continuationToken="opaque-token-from-elsewhere"), "not one this function wrote")
    return cases


@pytest.fixture(scope="module")
def world(stack):
    from emulator.harness import Ecs, Pipeline
    suffix = uuid.uuid4().hex[:6]
    cluster, service = f"bad-{suffix}", f"web-{suffix}"
    Ecs(stack.emulator).seed(cluster, service, [("web", f"{REPO}/web:1111111")])
    return {"cluster": cluster, "service": service, "pipeline": Pipeline(stack), "ecs": Ecs(stack.emulator)}


def run_and_check(stack, world, user_parameters, key, failure_type, words):
    pipeline = world["pipeline"]
    run = pipeline.run(user_parameters, artifacts=[("BuildOutput", key)])
    assert run.reports_per_job() == [1], run.jobs
    kind, message = run.failure
    assert kind == failure_type, message
    assert words in message, f"{message!r} lacks {words!r}"
    assert len(message) <= 5000
    assert len(world["ecs"].revisions(world["service"])) == 1, "nothing registered"
    assert all(f.alive() for f in stack.functions), "the process lives on"


@pytest.mark.parametrize("case", ARTIFACT_CASES, ids=[c[0] for c in ARTIFACT_CASES])
def test_bad_artifacts_and_files(stack, world, case):
    name, archive, extra, failure_type, words = case
    key = f"bad/{uuid.uuid4().hex}"
    world["pipeline"].upload(key, archive if archive is not None else stored({"imagedefinitions.json": GOOD}))
    params = {"cluster": world["cluster"], "service": world["service"], "wait": False, **extra}
    run_and_check(stack, world, params, key, failure_type, words)


@pytest.mark.parametrize("case", PARAMETER_CASES, ids=[c[0] for c in PARAMETER_CASES])
def test_bad_user_parameters(stack, world, case):
    name, user_parameters, failure_type, words = case
    key = f"bad/{uuid.uuid4().hex}"
    world["pipeline"].upload(key, stored({"imagedefinitions.json": GOOD}))
    pipeline = world["pipeline"]
    data = pipeline.job_data(user_parameters, [("BuildOutput", key)])
    if user_parameters is None:
        data["actionConfiguration"]["configuration"].pop("UserParameters")
    job_id, event = pipeline.file_job(data)
    answers = pipeline.invoke(event, retries=0)
    assert answers[0][0] == "response"
    job = stack.emulator.admin("GET", f"jobs/{job_id}")
    assert len(job["reports"]) == 1
    details = job["reports"][0]["request"]["failureDetails"]
    assert details["type"] == failure_type and words in details["message"], details
    assert len(details["message"]) <= 5000


def test_bad_events(stack, world):
    pipeline = world["pipeline"]
    key = f"bad/{uuid.uuid4().hex}"
    pipeline.upload(key, stored({"imagedefinitions.json": GOOD}))
    good = pipeline.job_data(json.dumps({"cluster": world["cluster"], "service": world["service"]}), [("BuildOutput", key)])
    cases = event_cases({"data": good})
    assert len(cases) == 10
    for name, data, words in cases:
        job_id, event = pipeline.file_job(data)
        answers = pipeline.invoke(event, retries=0)
        assert answers[0][0] == "response", (name, answers)
        job = stack.emulator.admin("GET", f"jobs/{job_id}")
        assert len(job["reports"]) == 1, name
        details = job["reports"][0]["request"]["failureDetails"]
        assert details["type"] == "ConfigurationError" and words in details["message"], (name, details)
    assert len(world["ecs"].revisions(world["service"])) == 1


@pytest.mark.parametrize("event", [
    {"hello": "world"},
    [],
    "CodePipeline.job",
    {"CodePipeline.job": None},
    {"CodePipeline.job": {"id": 12345, "data": {}}},
    {"CodePipeline.job": {"id": "not-a-job-id", "data": {}}},
    {"CodePipeline.job": {"id": "11111111-1111-1111-1111-11111111111", "data": {}}},
], ids=["other event", "array", "string", "null job", "numeric id", "id not a uuid", "short uuid"])
def test_events_without_a_job_fail_the_invocation_and_the_process_lives_on(stack, event):
    answers = stack.runtime.invoke(event, timeout=10)
    assert answers[0] == "error", answers
    assert answers[1]["errorType"] == "NotACodePipelineJob"
    assert all(f.alive() for f in stack.functions)


@pytest.mark.parametrize("state", ["DRAINING", "INACTIVE", "containers renamed", "cluster missing", "service missing"])
def test_ecs_states_that_cannot_be_deployed_to(stack, state):
    from emulator.harness import Ecs, Pipeline
    suffix = uuid.uuid4().hex[:6]
    cluster, service = f"st-{suffix}", f"web-{suffix}"
    ecs = Ecs(stack.emulator)
    status = state if state in ("DRAINING", "INACTIVE") else None
    ecs.seed(cluster, service, [("app" if state == "containers renamed" else "web", f"{REPO}/web:1111111")], status=status)
    pipeline = Pipeline(stack)
    key = f"bad/{uuid.uuid4().hex}"
    pipeline.upload(key, stored({"imagedefinitions.json": GOOD}))
    params = {"cluster": "nope" if state == "cluster missing" else cluster, "service": "nope" if state == "service missing" else service}
    run = pipeline.run(params, artifacts=[("BuildOutput", key)])
    kind, message = run.failure
    words = {"DRAINING": "is DRAINING", "INACTIVE": "is INACTIVE", "containers renamed": "no container named \"web\"", "cluster missing": "ClusterNotFoundException",
             "service missing": "was not found"}[state]
    assert kind == "ConfigurationError" and words in message, message
    assert run.reports_per_job() == [1]
    assert len(ecs.revisions(service)) == 1


def test_a_release_is_built_on_a_running_revision_that_was_deregistered(stack):
    """Another tool (or another stage's clean-up) deregistered the revision the service runs: the new revision is
    built on it all the same (DescribeTaskDefinition answers for INACTIVE revisions), and the summary says so."""
    from emulator.harness import Ecs, Pipeline
    suffix = uuid.uuid4().hex[:6]
    cluster, service = f"st-{suffix}", f"web-{suffix}"
    ecs = Ecs(stack.emulator)
    td = ecs.seed(cluster, service, [("web", f"{REPO}/web:1111111")])
    ecs.ecs.deregister_task_definition(taskDefinition=td["taskDefinitionArn"])
    pipeline = Pipeline(stack)
    key = f"bad/{uuid.uuid4().hex}"
    pipeline.upload(key, stored({"imagedefinitions.json": GOOD}))
    run = pipeline.run({"cluster": cluster, "service": service, "wait": False}, artifacts=[("BuildOutput", key)])
    assert run.status == "Succeeded", run.jobs[-1]
    assert run.said(f"the running revision {service}:1 is INACTIVE; the new one is built on it"), run.summaries
    new = ecs.task_definition(ecs.service(cluster, service)["taskDefinition"])["taskDefinition"]
    assert new["revision"] == 2 and new["runtimePlatform"] == {"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"}
