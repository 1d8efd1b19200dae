"""One engine: every feature gives the same verdict for `service`, for `services` of one, and for `services` of
three across two clusters — through the release binary on the emulator.
"""

import json
import uuid

import pytest

from emulator.harness import image_definitions, zip_bytes

REPO = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
PAUSE = {"targetType": "PAUSE", "lifecycleStages": ["POST_TEST_TRAFFIC_SHIFT"], "roleArn": "arn:aws:iam::123456789012:role/hooks",
         "timeoutConfiguration": {"timeoutInMinutes": 600, "action": "ROLLBACK"}}
CANARY = {"strategy": "CANARY", "bakeTimeInMinutes": 5, "canaryConfiguration": {"canaryPercent": 10.0, "canaryBakeTimeInMinutes": 5},
          "lifecycleHooks": [PAUSE]}
LAYOUTS = ["service", "services of one", "services of three across two clusters"]


class Layout:
    """The targets of one layout: each on its own family, container `web` (so that one image file serves all)."""

    def __init__(self, kind, ecs, pipeline, config=None):
        suffix = uuid.uuid4().hex[:6]
        self.kind, self.ecs, self.pipeline = kind, ecs, pipeline
        clusters = [f"pa-{suffix}", f"pb-{suffix}"]
        count = 3 if kind.startswith("services of three") else 1
        self.targets = [(clusters[0 if i < 2 else 1], f"p{i}-{suffix}") for i in range(count)]
        for cluster, service in self.targets:
            ecs.seed(cluster, service, [("web", f"{REPO}/web:1111111")], config=config)
        self.key = f"parity/{suffix}"

    def params(self, **extra):
        if self.kind == "service":
            (cluster, service), = self.targets
            return dict({"cluster": cluster, "service": service}, **extra)
        if self.kind == "services of one":
            (cluster, service), = self.targets
            return dict({"cluster": cluster, "services": [service]}, **extra)
        return dict({"services": [{"cluster": c, "service": s} for c, s in self.targets]}, **extra)

    def upload(self, files=None, image="2222222"):
        files = files or {"imagedefinitions.json": image_definitions([("web", f"{REPO}/web:{image}")])}
        self.pipeline.upload(self.key, zip_bytes(files))
        return [("BuildOutput", self.key)]

    def runs(self):
        return [self.ecs.service(c, s)["taskDefinition"].rsplit("/", 1)[1] for c, s in self.targets]

    def task_definitions(self):
        return [self.ecs.task_definition(self.ecs.service(c, s)["taskDefinition"])["taskDefinition"] for c, s in self.targets]

    def variable(self, run, name, i=0):
        if self.kind == "service":
            return run.variables[name]
        return run.variables[f"{self.targets[i][1]}_{name}"]


@pytest.mark.parametrize("kind", LAYOUTS)
def test_a_release_is_followed_to_success(stack, pipeline, ecs, kind):
    layout = Layout(kind, ecs, pipeline)
    run = pipeline.run(layout.params(), artifacts=layout.upload())
    assert run.status == "Succeeded", run.failure
    assert layout.runs() == [f"{s}:2" for _, s in layout.targets]
    for i, (_, service) in enumerate(layout.targets):
        assert layout.variable(run, "TaskDefinitionArn", i).endswith(f"/{service}:2")
        assert layout.variable(run, "PreviousTaskDefinitionArn", i).endswith(f"/{service}:1")
        assert layout.variable(run, "ImageDigest_web", i).startswith("sha256:")
    if kind == "services of one":
        assert run.variables["TaskDefinitionArn"].endswith(":2"), "one target keeps the single names too"


@pytest.mark.parametrize("kind", LAYOUTS)
def test_a_no_wait_release_ends_once_the_changes_are_made(stack, pipeline, ecs, kind):
    layout = Layout(kind, ecs, pipeline)
    run = pipeline.run(layout.params(wait=False), artifacts=layout.upload())
    assert run.status == "Succeeded" and len(run.jobs) == 2, run.summaries
    assert layout.runs() == [f"{s}:2" for _, s in layout.targets]


@pytest.mark.parametrize("kind", LAYOUTS)
def test_a_dry_run_changes_nothing(stack, emulator, pipeline, ecs, kind):
    layout = Layout(kind, ecs, pipeline)
    artifacts = layout.upload()
    emulator.admin("POST", "reset-stats")
    run = pipeline.run(layout.params(dryRun=True, cpu="512", memory="1 GB"), artifacts=artifacts)
    assert run.status == "Succeeded" and len(run.jobs) == 1
    assert run.said("~ web image") and run.said("~ cpu 256 → 512"), run.summaries
    calls = emulator.stats()["calls"]
    assert not [op for op in calls if op.split(":")[1].startswith(("Register", "Update", "Deregister"))], calls


@pytest.mark.parametrize("kind", LAYOUTS)
def test_task_level_and_container_overrides_reach_every_new_revision(stack, pipeline, ecs, kind):
    layout = Layout(kind, ecs, pipeline)
    params = layout.params(wait=False, cpu="512", memory="1 GB", containers={"web": {"environment": {"MODE": "green"}}})
    run = pipeline.run(params, artifacts=layout.upload())
    assert run.status == "Succeeded", run.failure
    for td in layout.task_definitions():
        assert (td["cpu"], td["memory"]) == ("512", "1024")
        assert td["containerDefinitions"][0]["environment"] == [{"name": "MODE", "value": "green"}]


@pytest.mark.parametrize("kind", LAYOUTS)
def test_a_task_definition_file_is_registered_once_for_every_target(stack, emulator, pipeline, ecs, kind):
    layout = Layout(kind, ecs, pipeline)
    family = f"file-{uuid.uuid4().hex[:6]}"
    taskdef = {"family": family, "networkMode": "awsvpc", "requiresCompatibilities": ["FARGATE"], "cpu": "256", "memory": "512",
               "containerDefinitions": [{"name": "web", "image": "<IMAGE1_NAME>", "essential": True}]}
    artifacts = layout.upload({"imagedefinitions.json": image_definitions([("web", f"{REPO}/web:2222222")]),
                               "taskdef.json": json.dumps(taskdef)})
    emulator.admin("POST", "reset-stats")
    run = pipeline.run(layout.params(wait=False, taskDefinitionFile="taskdef.json"), artifacts=artifacts)
    assert run.status == "Succeeded", run.failure
    assert layout.runs() == [f"{family}:1"] * len(layout.targets)
    assert emulator.stats()["calls"]["ecs:RegisterTaskDefinition"] == 1


@pytest.mark.parametrize("kind", LAYOUTS)
def test_keep_revisions_cleans_each_family_once(stack, pipeline, ecs, kind):
    layout = Layout(kind, ecs, pipeline)
    for tag in ("2222222", "3333333"):
        assert pipeline.run(layout.params(), artifacts=layout.upload(image=tag)).status == "Succeeded"
    run = pipeline.run(layout.params(keepRevisions=1), artifacts=layout.upload(image="4444444"))
    assert run.status == "Succeeded", run.failure
    for _, service in layout.targets:
        active = ecs.ecs.list_task_definitions(familyPrefix=service, status="ACTIVE")["taskDefinitionArns"]
        assert sorted(int(a.rsplit(":", 1)[1]) for a in active) == [3, 4], (service, active)
    assert run.said("keepRevisions 1: deregistered 2 old revision(s)"), run.summaries


@pytest.mark.parametrize("kind", LAYOUTS)
def test_a_pause_then_a_continue(stack, pipeline, ecs, kind):
    layout = Layout(kind, ecs, pipeline, config=CANARY)
    paused = pipeline.run(layout.params(wait="paused"), artifacts=layout.upload())
    assert paused.status == "Succeeded", paused.failure
    assert layout.variable(paused, "HookId") == "hook-1", paused.variables
    continued = pipeline.run(dict(layout.params(), action="continue"), artifacts=[])
    assert continued.status == "Succeeded", continued.failure
    assert layout.runs() == [f"{s}:2" for _, s in layout.targets]


@pytest.mark.parametrize("kind", LAYOUTS)
def test_a_rollback_goes_back_to_the_previous_revision(stack, pipeline, ecs, kind):
    layout = Layout(kind, ecs, pipeline)
    assert pipeline.run(layout.params(), artifacts=layout.upload()).status == "Succeeded"
    run = pipeline.run(dict(layout.params(), action="rollback"), artifacts=[])
    assert run.status == "Succeeded", run.failure
    assert layout.runs() == [f"{s}:1" for _, s in layout.targets]
    assert layout.variable(run, "RolledBackFrom").endswith(":2")


@pytest.mark.parametrize("kind", LAYOUTS)
def test_a_promotion_deploys_the_revision_to_every_target(stack, emulator, pipeline, ecs, kind):
    layout = Layout(kind, ecs, pipeline)
    revision = f"{layout.targets[0][1]}:1"
    emulator.admin("POST", "reset-stats")
    run = pipeline.run(layout.params(taskDefinition=revision), artifacts=[])
    assert run.status == "Succeeded", run.failure
    assert layout.runs() == [revision] * len(layout.targets)
    assert "ecs:RegisterTaskDefinition" not in emulator.stats()["calls"]


@pytest.mark.parametrize("kind", LAYOUTS)
def test_a_missing_image_is_refused_before_any_change(stack, emulator, pipeline, ecs, kind):
    layout = Layout(kind, ecs, pipeline)
    files = {"imagedefinitions.json": image_definitions([("web", f"{REPO}/web:nosuchtag")])}
    layout.pipeline.upload(layout.key, zip_bytes(files), push=False)
    emulator.admin("POST", "reset-stats")
    run = pipeline.run(layout.params(), artifacts=[("BuildOutput", layout.key)])
    kind_, message = run.failure
    assert kind_ == "ConfigurationError" and "was not found in ECR" in message, message
    assert "ecs:RegisterTaskDefinition" not in emulator.stats()["calls"]


@pytest.mark.parametrize("kind", LAYOUTS)
def test_the_deploy_file_may_name_the_targets_and_the_keys(stack, pipeline, ecs, kind):
    layout = Layout(kind, ecs, pipeline)
    deploy = dict(layout.params(), timeoutMinutes=30)
    artifacts = layout.upload({"imagedefinitions.json": image_definitions([("web", f"{REPO}/web:2222222")]),
                               "deploy.json": json.dumps(deploy)})
    tokens = []
    run = pipeline.run({"deployFile": "deploy.json"}, artifacts=artifacts, token_hook=lambda t: tokens.append(t) or t)
    assert run.status == "Succeeded", run.failure
    assert len(run.jobs) >= 3, "followed across continuation jobs that read no deploy file"
    assert all("names" in json.loads(t) for t in tokens), "the token carries the targets UserParameters lacks"
    assert layout.runs() == [f"{s}:2" for _, s in layout.targets]
