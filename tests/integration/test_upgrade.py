"""Tokens in flight survive an upgrade: continuation tokens that the previous release's binary wrote
(tests/upgrade/tokens.json, recorded by tests/upgrade/record.py), handed verbatim to this binary, are followed to
the verdict the deployment deserves. The ECS state each token names is rebuilt with plain API calls
(tests/upgrade/scenarios.py)."""

import json
from pathlib import Path

import pytest

from upgrade.scenarios import SCENARIOS, prepare, rebuild

RECORDED = json.loads((Path(__file__).resolve().parents[1] / "upgrade" / "tokens.json").read_text())


def replay(emulator, ecs, pipeline, name):
    scenario = SCENARIOS[name]
    artifacts = prepare(emulator, ecs, pipeline, scenario, kinds=scenario.get("replay_scenario"))
    rebuild(emulator, ecs, scenario)
    token = RECORDED["tokens"][name]
    run = pipeline.run(scenario["user"], artifacts=artifacts, token=token)
    assert run.reports_per_job() == [1] * len(run.jobs)
    return scenario, run


def td(ecs, scenario, service):
    return ecs.service(scenario["cluster"], service)["taskDefinition"].rsplit("/", 1)[1]


def summary(run):
    return run.report.get("executionDetails", {}).get("summary", "")


def test_the_recorded_tokens_are_the_previous_formats():
    versions = {name: json.loads(token)["v"] for name, token in RECORDED["tokens"].items()}
    assert versions == {name: int(name[1]) for name in SCENARIOS}, versions
    assert RECORDED["commit"] == "11095dc"


def test_a_v2_release_is_followed_to_success_with_its_digests(stack, emulator, pipeline, ecs):
    scenario, run = replay(emulator, ecs, pipeline, "v2-deploy")
    assert run.status == "Succeeded", run.jobs[-1]
    assert run.variables["TaskDefinitionArn"].endswith("/upg-v2d-web:2")
    assert run.variables["ImageDigest_web"].startswith("sha256:")


def test_a_v2_release_that_fails_is_reported_with_its_cause(stack, emulator, pipeline, ecs):
    _, run = replay(emulator, ecs, pipeline, "v2-deploy-fails")
    kind, message = run.failure
    assert kind == "JobFailed" and "circuit breaker" in message, message


def test_a_v2_release_past_its_deadline_is_rolled_back(stack, emulator, pipeline, ecs):
    _, run = replay(emulator, ecs, pipeline, "v2-timeout")
    kind, message = run.failure
    assert kind == "JobFailed" and "did not finish within 1 minute" in message and "rolled back" in message, message


def test_a_v2_pause_is_the_action_s_success(stack, emulator, pipeline, ecs):
    _, run = replay(emulator, ecs, pipeline, "v2-paused")
    assert run.status == "Succeeded", run.failure
    assert run.variables["HookId"] == "hook-1" and run.variables["LifecycleStage"] == "POST_TEST_TRAFFIC_SHIFT"


def test_a_v2_rollback_in_progress_is_followed_to_rolled_back(stack, emulator, pipeline, ecs):
    scenario, run = replay(emulator, ecs, pipeline, "v2-undo")
    assert run.status == "Succeeded", run.jobs[-1]
    assert run.variables["TaskDefinitionArn"].endswith("/upg-v2u-web:1"), run.variables
    assert run.variables["RolledBackFrom"].endswith("/upg-v2u-web:2"), run.variables
    assert td(ecs, scenario, "upg-v2u-web") == "upg-v2u-web:1"


def test_a_v2_revert_is_followed_to_the_previous_revision(stack, emulator, pipeline, ecs):
    scenario, run = replay(emulator, ecs, pipeline, "v2-revert")
    assert run.status == "Succeeded", run.jobs[-1]
    assert run.variables["TaskDefinitionArn"].endswith("/upg-v2r-web:1"), run.variables
    assert run.variables["RolledBackFrom"].endswith("/upg-v2r-web:2"), run.variables
    assert td(ecs, scenario, "upg-v2r-web") == "upg-v2r-web:1"


def test_a_v2_keep_revisions_still_cleans_up(stack, emulator, pipeline, ecs):
    _, run = replay(emulator, ecs, pipeline, "v2-keep")
    assert run.status == "Succeeded", run.jobs[-1]
    assert "keepRevisions 1:" in summary(run), summary(run)


def test_a_v3_atomic_release_rolls_every_service_back(stack, emulator, pipeline, ecs):
    scenario, run = replay(emulator, ecs, pipeline, "v3-atomic")
    kind, message = run.failure
    assert kind == "JobFailed" and message.startswith("Service upg-v3a-worker failed:"), message
    for service in scenario["services"]:
        assert td(ecs, scenario, service) == f"{service}:1", service


def test_a_v3_token_after_a_look_is_followed_to_success(stack, emulator, pipeline, ecs):
    scenario, run = replay(emulator, ecs, pipeline, "v3-looked")
    assert run.status == "Succeeded", run.jobs[-1]
    for service in scenario["services"]:
        assert td(ecs, scenario, service) == f"{service}:2"
        assert run.variables[f"{service}_TaskDefinitionArn"].endswith(f"/{service}:2")


def test_a_v1_token_is_followed_to_its_end(stack, emulator, pipeline, ecs):
    _, run = replay(emulator, ecs, pipeline, "v1-classic")
    assert run.status == "Succeeded", run.jobs[-1]
    assert "completed" in summary(run), summary(run)
