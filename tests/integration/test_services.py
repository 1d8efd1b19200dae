"""`services`: one action releasing several services, through the real binary on the emulator."""

import json
import uuid

from emulator.harness import image_definitions, zip_bytes

REPO = "123456789012.dkr.ecr.us-east-1.amazonaws.com"


def release(ecs, pipeline, names, services, scenarios=None, polls=2):
    """Seeds `services` (name → containers) in one cluster; the artifact names every container's new image."""
    scenarios = scenarios or {}
    images = []
    for service, containers in services.items():
        ecs.seed(names["cluster"], service, [(c, f"{REPO}/{c}:1111111") for c in containers],
                 scenario=scenarios.get(service, "complete"), polls=polls)
        images += [(c, f"{REPO}/{c}:2222222") for c in containers if (c, f"{REPO}/{c}:2222222") not in images]
    pipeline.upload(names["key"], zip_bytes({"imagedefinitions.json": image_definitions(images)}))
    pipeline.emulator.admin("POST", "reset-stats")
    return [("BuildOutput", names["key"])]


def svc(names, n):
    return f"{n}-{names['service']}"


def test_one_missing_image_stops_the_release_to_every_service_before_any_change(stack, emulator, pipeline, ecs, names):
    web, worker = svc(names, "web"), svc(names, "worker")
    for service, container in ((web, "web"), (worker, "worker")):
        ecs.seed(names["cluster"], service, [(container, f"{REPO}/{container}:1111111")])
    pipeline.registry.push(f"{REPO}/web:2222222")  # the worker's image was never pushed
    pipeline.upload(names["key"], zip_bytes({"imagedefinitions.json": image_definitions(
        [("web", f"{REPO}/web:2222222"), ("worker", f"{REPO}/worker:{names['service'][-7:]}")])}), push=False)
    emulator.admin("POST", "reset-stats")

    run = pipeline.run({"cluster": names["cluster"], "services": [web, worker]}, artifacts=[("BuildOutput", names["key"])])

    kind, message = run.failure
    assert kind == "ConfigurationError", message
    assert f"image {REPO}/worker:{names['service'][-7:]} was not found in ECR" in message
    calls = emulator.stats()["calls"]
    assert "ecs:RegisterTaskDefinition" not in calls and "ecs:UpdateService" not in calls, calls
    for service in (web, worker):
        assert ecs.service(names["cluster"], service)["taskDefinition"].endswith(":1")


def test_three_services_are_released_together(stack, emulator, pipeline, ecs, names):
    services = {svc(names, "web"): ["web"], svc(names, "worker"): ["worker"], svc(names, "cron"): ["worker"]}
    artifacts = release(ecs, pipeline, names, services)

    run = pipeline.run({"cluster": names["cluster"], "services": list(services)}, artifacts=artifacts)

    assert run.status == "Succeeded", run.jobs
    assert run.reports_per_job() == [1] * len(run.jobs)
    for service, containers in services.items():
        td = ecs.task_definition(ecs.service(names["cluster"], service)["taskDefinition"])["taskDefinition"]
        assert [c["image"] for c in td["containerDefinitions"]] == [f"{REPO}/{c}:2222222" for c in containers]
        assert ecs.revisions(service)[-1].endswith(":2"), "one new revision per service"
    variables = run.variables
    for service in services:
        prefix = service.replace(".", "_")
        assert variables[f"{prefix}_TaskDefinitionArn"].endswith(f"/{service}:2"), variables
        assert f"/{names['cluster']}/{service}/" in variables[f"{prefix}_ServiceDeploymentArn"]
    summaries = [j["reports"][0]["request"].get("executionDetails", {}).get("summary", "") for j in run.jobs]
    assert len(run.jobs) >= 3, "followed over several looks"
    assert all(all(s in text for s in services) for text in summaries[:-1]), "every summary has a line per service"


def test_a_failure_without_atomic_names_the_service_and_what_went_through(stack, emulator, pipeline, ecs, names):
    web, worker = svc(names, "web"), svc(names, "worker")
    artifacts = release(ecs, pipeline, names, {web: ["web"], worker: ["worker"]}, scenarios={worker: "fail"}, polls=1)

    run = pipeline.run({"cluster": names["cluster"], "services": [web, worker]}, artifacts=artifacts)

    kind, message = run.failure
    assert kind == "JobFailed", run.jobs
    assert message.startswith(f"Service {worker} failed:"), message
    assert "not rolled back" in message
    assert ecs.service(names["cluster"], web)["taskDefinition"].endswith(f"/{web}:2"), "web went through"


def test_a_failure_with_atomic_rolls_the_others_back(stack, emulator, pipeline, ecs, names):
    web, api, worker = svc(names, "web"), svc(names, "api"), svc(names, "worker")
    artifacts = release(ecs, pipeline, names, {web: ["web"], api: ["api"], worker: ["worker"]},
                        scenarios={worker: "fail"}, polls=1)

    run = pipeline.run({"cluster": names["cluster"], "services": [web, api, worker], "atomic": True}, artifacts=artifacts)

    kind, message = run.failure
    assert kind == "JobFailed", run.jobs
    assert message.startswith(f"Service {worker} failed:"), message
    assert "Rolled back to their previous revisions (atomic):" in message and web in message and api in message, message
    assert "ECS rolled it back to its previous revision." in message, message
    for service in (web, api, worker):  # no service is left on the new release
        assert ecs.service(names["cluster"], service)["taskDefinition"].endswith(f"/{service}:1"), f"{service} is back"
    assert run.reports_per_job() == [1] * len(run.jobs)


def test_refusals_before_anything_changes(stack, emulator, pipeline, ecs, names):
    web, worker = svc(names, "web"), svc(names, "worker")
    artifacts = release(ecs, pipeline, names, {web: ["web"], worker: ["worker"]})
    for user, words in [
        ({"cluster": names["cluster"], "services": [web, "nope-" + uuid.uuid4().hex[:6]]}, ["not found"]),
        ({"cluster": names["cluster"], "services": [web]}, ["worker", "no service's task definition has", f"{web} ({web}:1): web"]),
        ({"cluster": names["cluster"], "services": [web, worker], "service": web}, ["cannot be set with \"service\""]),
    ]:
        run = pipeline.run(user, artifacts=artifacts)
        kind, message = run.failure
        assert kind == "ConfigurationError", (user, message)
        for w in words:
            assert w in message, (w, message)
    for service in (web, worker):
        assert ecs.revisions(service) == [ecs.revisions(service)[0]], "nothing registered"
    calls = emulator.stats()["calls"]
    assert not [op for op in calls if "Register" in op or "UpdateService" in op], calls


def test_a_dry_run_of_several_services_changes_nothing(stack, emulator, pipeline, ecs, names):
    web, worker = svc(names, "web"), svc(names, "worker")
    artifacts = release(ecs, pipeline, names, {web: ["web"], worker: ["worker"]})
    run = pipeline.run({"cluster": names["cluster"], "services": [web, worker], "dryRun": True}, artifacts=artifacts)
    assert run.status == "Succeeded" and len(run.jobs) == 1
    summary = run.report["executionDetails"]["summary"]
    assert f"~ web image {REPO}/web:1111111 → {REPO}/web:2222222" in summary and f"~ worker image" in summary, summary
    calls = emulator.stats()["calls"]
    assert not [op for op in calls if op.split(":")[1].startswith(("Register", "Update", "Tag"))], calls


def test_ten_services_with_64_character_names_fit_the_token(stack, emulator, pipeline, ecs, names):
    cluster = ("c" + names["cluster"] + "x" * 64)[:64]
    services = [(f"s{i}-" + names["service"] + "y" * 64)[:64] for i in range(10)]
    for service in services:
        ecs.seed(cluster, service, [("web", f"{REPO}/web:1111111")], polls=2)
    pipeline.upload(names["key"], zip_bytes({"imagedefinitions.json": image_definitions([("web", f"{REPO}/web:2222222")])}))
    tokens = []
    run = pipeline.run({"cluster": cluster, "services": services}, artifacts=[("BuildOutput", names["key"])],
                       token_hook=lambda t: tokens.append(t) or t)
    assert run.status == "Succeeded", run.failure
    assert tokens and max(len(t) for t in tokens) <= 2048, max(len(t) for t in tokens)
    assert json.loads(tokens[0])["v"] == 4


def test_container_overrides_go_to_every_service_that_has_the_container(stack, emulator, pipeline, ecs, names):
    web, worker = svc(names, "web"), svc(names, "worker")
    artifacts = release(ecs, pipeline, names, {web: ["web"], worker: ["worker"]})
    value = "value-of-FEATURE-must-stay-out-of-the-summary"
    user = {"cluster": names["cluster"], "services": [web, worker], "wait": False,
            "containers": {"web": {"environment": {"FEATURE": value}}, "worker": {"command": ["run", "--fast"]}}}

    run = pipeline.run(user, artifacts=artifacts)

    assert run.status == "Succeeded", run.failure
    web_td = ecs.task_definition(ecs.service(names["cluster"], web)["taskDefinition"])["taskDefinition"]
    worker_td = ecs.task_definition(ecs.service(names["cluster"], worker)["taskDefinition"])["taskDefinition"]
    assert web_td["containerDefinitions"][0]["environment"] == [{"name": "FEATURE", "value": value}]
    assert "command" not in web_td["containerDefinitions"][0]
    assert worker_td["containerDefinitions"][0]["command"] == ["run", "--fast"]
    assert "environment" not in worker_td["containerDefinitions"][0] or not worker_td["containerDefinitions"][0]["environment"]
    summary = "\n".join(run.summaries)
    assert "override containers.web.environment: +FEATURE" in summary and value not in summary, summary
    assert "override containers.worker.command (replaced)" in summary, summary
