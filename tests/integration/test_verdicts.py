"""Verdicts are a truth table: every case the one-engine issue found wrong, through the release binary on the
emulator, with the ECS states or faults that cause it. Each test says the row it checks.

| move      | row                                                     | test                                                        |
|-----------|---------------------------------------------------------|-------------------------------------------------------------|
| rollback  | retry after a revert that failed                        | test_a_retry_after_a_failed_revert_reverts_again             |
| rollback  | an earlier ECS rollback, ended                          | test_an_earlier_ecs_rollback_is_not_the_rollback_action_s    |
| rollback  | redelivery (same job) while its revert goes on           | test_a_redelivered_rollback_never_stops_its_own_revert       |
| rollback  | after a timeout                                         | test_a_revert_past_its_timeout_is_left_and_fails             |
| rollback  | after a STOPPED deploy                                   | test_after_a_stopped_deploy_the_rollback_goes_to_the_last_success |
| release   | retry while the deployments go on (services)             | test_a_retry_while_the_services_deploy_follows_them          |
| release   | retry after one ended STOPPED (services)                 | test_a_retry_after_a_stopped_service_deploys_it_again        |
| release   | retry after onTimeout leave (services)                   | test_a_retry_after_on_timeout_leave_follows_what_was_left    |
| release   | redelivery and retry with container overrides            | test_overrides_are_registered_and_deployed_once              |
| release   | redelivery with forceNewDeployment                       | test_a_redelivered_forced_deployment_starts_no_second_one    |
| atomic    | UpdateService refused for one service                    | test_atomic_an_update_refused_for_one_takes_the_others_back  |
| atomic    | a timeout                                                | test_atomic_a_timeout_takes_back_what_succeeded              |
| atomic    | a failed service ECS did not roll back (STOPPED)         | test_atomic_a_stopped_service_is_updated_back                |
| atomic    | StopServiceDeployment refused                            | test_atomic_a_refused_stop_falls_back_to_updating_back       |
| atomic    | the rollback phase's deadline                            | test_atomic_the_rollback_phase_has_a_deadline_of_its_own     |
| promotion | retry after a STOPPED promotion                          | test_a_retried_promotion_after_a_stopped_one_deploys_again   |
| cleanup   | revisions that once deployed successfully                | test_keep_revisions_takes_revisions_that_once_deployed       |
| cleanup   | a revision another cluster's service runs               | test_keep_revisions_never_takes_what_another_service_runs    |
"""

import json
import time
import uuid

from emulator.harness import image_definitions, zip_bytes

REPO = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
ROLLING = {"strategy": "ROLLING", "deploymentCircuitBreaker": {"enable": True, "rollback": True}}
NO_ROLLBACK = {"strategy": "ROLLING", "deploymentCircuitBreaker": {"enable": True, "rollback": False}}


def image(tag, container="web"):
    return f"{REPO}/{container}:{tag}"


def build(pipeline, key, pairs):
    pipeline.upload(key, zip_bytes({"imagedefinitions.json": image_definitions(pairs)}))
    return [("BuildOutput", key)]


def runs(ecs, cluster, service):
    return ecs.service(cluster, service)["taskDefinition"].rsplit("/", 1)[1]


def expire(token):
    value = json.loads(token)
    value["deadline"] = int(time.time()) - 1
    return json.dumps(value)


def one(ecs, pipeline, names, config=ROLLING):
    """One service on :1, released to :2 and followed to its end."""
    ecs.seed(names["cluster"], names["service"], [("web", image("1111111"))], config=config)
    artifacts = build(pipeline, names["key"], [("web", image("2222222"))])
    params = {"cluster": names["cluster"], "service": names["service"]}
    run = pipeline.run(params, artifacts=artifacts)
    assert run.status == "Succeeded", run.failure
    return params


def deployments(ecs, service):
    return [d["status"] for d in ecs.deployments(service)]


# ---- the rollback action --------------------------------------------------------------------------------------

def test_a_retry_after_a_failed_revert_reverts_again(stack, emulator, pipeline, ecs, names):
    params = one(ecs, pipeline, names)
    emulator.scenario(names["service"], "fail")  # the revert :2 → :1 trips the breaker; ECS puts :2 back
    first = pipeline.run(dict(params, action="rollback"), artifacts=[])
    kind, message = first.failure
    assert kind == "JobFailed" and "circuit breaker" in message, message
    assert runs(ecs, names["cluster"], names["service"]) == f"{names['service']}:2", "the bad revision runs again"
    emulator.scenario(names["service"], "complete")
    retry = pipeline.run(dict(params, action="rollback"), artifacts=[])  # a stage retry: a new job
    assert retry.status == "Succeeded", retry.failure
    assert retry.said(f"from {names['service']}:2 to {names['service']}:1"), retry.summaries
    assert runs(ecs, names["cluster"], names["service"]) == f"{names['service']}:1"


def test_an_earlier_ecs_rollback_is_not_the_rollback_action_s(stack, emulator, pipeline, ecs, names):
    params = one(ecs, pipeline, names)  # :1 → :2 succeeded
    emulator.scenario(names["service"], "fail")
    bad = pipeline.run(params, artifacts=build(pipeline, names["key"] + "-3", [("web", image("3333333"))]))
    assert bad.status == "Failed" and deployments(ecs, names["service"])[-1] == "ROLLBACK_SUCCESSFUL"
    assert runs(ecs, names["cluster"], names["service"]) == f"{names['service']}:2"
    emulator.scenario(names["service"], "complete")
    before = len(ecs.deployments(names["service"]))
    rollback = pipeline.run(dict(params, action="rollback"), artifacts=[])
    assert rollback.status == "Succeeded", rollback.failure
    assert len(ecs.deployments(names["service"])) == before + 1, "a deployment of its own"
    assert runs(ecs, names["cluster"], names["service"]) == f"{names['service']}:1"
    assert rollback.variables["RolledBackFrom"].endswith(f"{names['service']}:2")


def test_a_redelivered_rollback_never_stops_its_own_revert(stack, emulator, pipeline, ecs, names):
    params = one(ecs, pipeline, names)
    emulator.scenario(names["service"], "stuck")
    job_id, event = pipeline.file_job(pipeline.job_data(json.dumps(dict(params, action="rollback")), []))
    pipeline.invoke(event)
    assert deployments(ecs, names["service"])[-1] in ("PENDING", "IN_PROGRESS"), "the revert goes on"
    emulator.admin("POST", "reset-stats")
    # The same job again (Lambda's async delivery), on a fresh process that remembers nothing of it.
    stack.functions.pop(0).stop()
    stack.start_function()
    answers = pipeline.invoke(event)
    assert answers[-1][0] == "response", answers
    calls = emulator.stats()["calls"]
    assert "ecs:StopServiceDeployment" not in calls and "ecs:UpdateService" not in calls, calls
    assert deployments(ecs, names["service"])[-1] in ("PENDING", "IN_PROGRESS")
    assert len(emulator.admin("GET", f"jobs/{job_id}")["reports"]) == 1


def test_a_revert_past_its_timeout_is_left_and_fails(stack, emulator, pipeline, ecs, names):
    params = one(ecs, pipeline, names)
    emulator.scenario(names["service"], "stuck")
    emulator.admin("POST", "reset-stats")
    run = pipeline.run(dict(params, action="rollback", timeoutMinutes=5), artifacts=[], token_hook=expire)
    kind, message = run.failure
    assert kind == "JobFailed" and "left running" in message, message
    assert "ecs:StopServiceDeployment" not in emulator.stats()["calls"], "the revert is not rolled back"
    assert deployments(ecs, names["service"])[-1] == "IN_PROGRESS"


def test_after_a_stopped_deploy_the_rollback_goes_to_the_last_success(stack, emulator, pipeline, ecs, names):
    params = one(ecs, pipeline, names, config=NO_ROLLBACK)  # :1 → :2
    emulator.scenario(names["service"], "fail")  # :2 → :3 stops without a rollback: :3 is left running
    bad = pipeline.run(params, artifacts=build(pipeline, names["key"] + "-3", [("web", image("3333333"))]))
    assert bad.status == "Failed" and deployments(ecs, names["service"])[-1] == "STOPPED"
    assert runs(ecs, names["cluster"], names["service"]) == f"{names['service']}:3"
    emulator.scenario(names["service"], "complete")
    rollback = pipeline.run(dict(params, action="rollback"), artifacts=[])
    assert rollback.status == "Succeeded", rollback.failure
    assert runs(ecs, names["cluster"], names["service"]) == f"{names['service']}:2", "the last success, not :1"


# ---- a release to several services ----------------------------------------------------------------------------

def services(ecs, pipeline, names, kinds, config=ROLLING, looks=1):
    """Services on :1 in one cluster, named by `kinds` (service suffix → scenario); the artifact releases :2."""
    made, images = [], []
    for suffix, kind in kinds.items():
        service = f"{suffix}-{names['service']}"
        ecs.seed(names["cluster"], service, [(suffix, image("1111111", suffix))], scenario=kind, config=config, looks=looks)
        made.append(service)
        images.append((suffix, image("2222222", suffix)))
    return made, build(pipeline, names["key"], images)


def test_a_retry_while_the_services_deploy_follows_them(stack, emulator, pipeline, ecs, names):
    made, artifacts = services(ecs, pipeline, names, {"api": "complete", "job": "complete"}, looks=3)
    params = {"cluster": names["cluster"], "services": made}
    assert pipeline.run(dict(params, wait=False), artifacts=artifacts).status == "Succeeded"
    assert all(deployments(ecs, s)[-1] == "IN_PROGRESS" for s in made)
    emulator.admin("POST", "reset-stats")
    retry = pipeline.run(params, artifacts=artifacts)
    assert retry.status == "Succeeded", retry.failure
    assert "continuationToken" in retry.jobs[0]["reports"][0]["request"], "not a success before a look"
    assert len(retry.jobs) >= 3, retry.summaries
    calls = emulator.stats()["calls"]
    assert "ecs:RegisterTaskDefinition" not in calls and "ecs:UpdateService" not in calls, calls
    assert all(deployments(ecs, s)[-1] == "SUCCESSFUL" for s in made)


def test_a_retry_after_a_stopped_service_deploys_it_again(stack, emulator, pipeline, ecs, names):
    made, artifacts = services(ecs, pipeline, names, {"api": "complete", "job": "fail"}, config=NO_ROLLBACK)
    params = {"cluster": names["cluster"], "services": made}
    first = pipeline.run(params, artifacts=artifacts)
    assert first.status == "Failed" and deployments(ecs, made[1])[-1] == "STOPPED"
    emulator.scenario(made[1], "complete")
    emulator.admin("POST", "reset-stats")
    retry = pipeline.run(params, artifacts=artifacts)
    assert retry.status == "Succeeded", retry.failure
    assert emulator.stats()["calls"]["ecs:UpdateService"] == 1, "only the stopped one deploys again"
    assert deployments(ecs, made[1])[-1] == "SUCCESSFUL" and len(ecs.deployments(made[0])) == 2


def test_a_retry_after_on_timeout_leave_follows_what_was_left(stack, emulator, pipeline, ecs, names):
    made, artifacts = services(ecs, pipeline, names, {"api": "stuck", "job": "stuck"})
    params = {"cluster": names["cluster"], "services": made, "timeoutMinutes": 5, "onTimeout": "leave"}
    first = pipeline.run(params, artifacts=artifacts, token_hook=expire)
    assert first.status == "Failed" and "left running" in first.failure[1], first.failure
    retry = pipeline.run(params, artifacts=artifacts, max_jobs=2)
    assert retry.jobs[0]["status"] == "Succeeded" and "continuationToken" in retry.jobs[0]["reports"][0]["request"]
    assert "already deploying" in retry.summaries[0], retry.summaries[0]
    assert all(deployments(ecs, s)[-1] == "IN_PROGRESS" for s in made)


def test_overrides_are_registered_and_deployed_once(stack, emulator, pipeline, ecs, names):
    made, artifacts = services(ecs, pipeline, names, {"api": "complete", "job": "complete"})
    params = {"cluster": names["cluster"], "services": made, "wait": False,
              "containers": {"api": {"environment": {"MODE": "blue"}}, "job": {"command": ["run"]}}}
    job_id, event = pipeline.file_job(pipeline.job_data(json.dumps(params), artifacts))
    pipeline.invoke(event)
    emulator.admin("POST", "reset-stats")
    # The same job again on a fresh process, then a retry (a new job) of the same release.
    stack.functions.pop(0).stop()
    stack.start_function()
    pipeline.invoke(event)
    retry = pipeline.run(params, artifacts=artifacts)
    assert retry.status == "Succeeded", retry.failure
    assert "already runs" in retry.summaries[0], retry.summaries[0]
    calls = emulator.stats()["calls"]
    assert "ecs:RegisterTaskDefinition" not in calls and "ecs:UpdateService" not in calls, calls
    assert all(len(ecs.revisions(s)) == 2 for s in made)


def test_a_redelivered_forced_deployment_starts_no_second_one(stack, emulator, pipeline, ecs, names):
    params = one(ecs, pipeline, names)
    forced = dict(params, wait=False, forceNewDeployment=True)
    job_id, event = pipeline.file_job(pipeline.job_data(json.dumps(forced), [("BuildOutput", names["key"])]))
    pipeline.invoke(event)
    assert len(ecs.deployments(names["service"])) == 3
    stack.functions.pop(0).stop()
    stack.start_function()
    pipeline.invoke(event)
    assert len(ecs.deployments(names["service"])) == 3, "no second deployment"


# ---- atomic ----------------------------------------------------------------------------------------------------

def final_revisions(ecs, names, made):
    return {s: runs(ecs, names["cluster"], s) for s in made}


def test_atomic_an_update_refused_for_one_takes_the_others_back(stack, emulator, pipeline, ecs, names):
    made, artifacts = services(ecs, pipeline, names, {"api": "stuck", "job": "complete"})
    emulator.fault("ecs:UpdateService", "denied", times=-1, match=f'"{made[1]}"')
    run = pipeline.run({"cluster": names["cluster"], "services": made, "atomic": True}, artifacts=artifacts)
    kind, message = run.failure
    assert kind == "PermissionError", message
    assert made[1] in message and "AccessDenied" in message, message
    assert final_revisions(ecs, names, made) == {s: f"{s}:1" for s in made}
    assert f"{made[0]} ({made[0]}:1)" in message, "the failure names each service's final revision"


def test_atomic_a_timeout_takes_back_what_succeeded(stack, emulator, pipeline, ecs, names):
    made, artifacts = services(ecs, pipeline, names, {"api": "complete", "job": "stuck"})
    params = {"cluster": names["cluster"], "services": made, "atomic": True, "timeoutMinutes": 5}
    looks = []

    def expire_once_a_is_done(token):
        looks.append(token)
        return expire(token) if len(looks) == 3 else token

    run = pipeline.run(params, artifacts=artifacts, token_hook=expire_once_a_is_done)
    kind, message = run.failure
    assert kind == "JobFailed" and "did not finish within 5 minutes" in message, message
    assert final_revisions(ecs, names, made) == {s: f"{s}:1" for s in made}


def heal(emulator, service):
    """A token hook: from the first look on, the service's next deployments (the ones going back) succeed."""
    def hook(token):
        emulator.scenario(service, "complete")
        return token
    return hook


def test_atomic_a_stopped_service_is_updated_back(stack, emulator, pipeline, ecs, names):
    made, artifacts = services(ecs, pipeline, names, {"api": "complete", "job": "fail"}, config=NO_ROLLBACK)
    run = pipeline.run({"cluster": names["cluster"], "services": made, "atomic": True}, artifacts=artifacts,
                       token_hook=heal(emulator, made[1]))
    kind, message = run.failure
    assert kind == "JobFailed" and message.startswith(f"Service {made[1]} failed:"), message
    assert final_revisions(ecs, names, made) == {s: f"{s}:1" for s in made}
    assert deployments(ecs, made[1])[-2:] == ["STOPPED", "SUCCESSFUL"], "stopped, then updated back"


def test_atomic_a_refused_stop_falls_back_to_updating_back(stack, emulator, pipeline, ecs, names):
    made, artifacts = services(ecs, pipeline, names, {"api": "stuck", "job": "fail"})
    emulator.fault("ecs:StopServiceDeployment", "denied", times=-1)
    run = pipeline.run({"cluster": names["cluster"], "services": made, "atomic": True}, artifacts=artifacts,
                       token_hook=heal(emulator, made[0]))
    kind, message = run.failure
    assert kind == "JobFailed", message
    assert final_revisions(ecs, names, made) == {s: f"{s}:1" for s in made}
    assert deployments(ecs, made[0])[-2:] == ["STOPPED", "SUCCESSFUL"], ("superseded by the update back", run.summaries)


def test_atomic_the_rollback_phase_has_a_deadline_of_its_own(stack, emulator, pipeline, ecs, names):
    made, artifacts = services(ecs, pipeline, names, {"api": "stuck", "job": "fail"})
    emulator.scenario(made[0], "stuck", rollback_looks=50)  # its rollback goes on and on

    def end_the_rollback_phase(token):
        value = json.loads(token)
        if "back" in value:
            value["back"] = int(time.time()) - 1
        return json.dumps(value)

    run = pipeline.run({"cluster": names["cluster"], "services": made, "atomic": True}, artifacts=artifacts,
                       token_hook=end_the_rollback_phase)
    kind, message = run.failure
    assert kind == "JobFailed" and "The rollback of the services did not finish within" in message, message
    assert "Still rolling back, left to finish" in message and made[0] in message, message


# ---- promotion -------------------------------------------------------------------------------------------------

def test_a_retried_promotion_after_a_stopped_one_deploys_again(stack, emulator, pipeline, ecs, names):
    params = one(ecs, pipeline, names, config=NO_ROLLBACK)  # :1 → :2
    emulator.scenario(names["service"], "fail")
    promote = dict(params, taskDefinition=f"{names['service']}:1")
    first = pipeline.run(promote, artifacts=[])
    assert first.status == "Failed" and deployments(ecs, names["service"])[-1] == "STOPPED"
    emulator.scenario(names["service"], "complete")
    emulator.admin("POST", "reset-stats")
    retry = pipeline.run(promote, artifacts=[])
    assert retry.status == "Succeeded", retry.failure
    assert not retry.said("Nothing new to deploy"), retry.summaries
    assert emulator.stats()["calls"]["ecs:UpdateService"] == 1
    assert deployments(ecs, names["service"])[-1] == "SUCCESSFUL"


# ---- keepRevisions ---------------------------------------------------------------------------------------------

def test_keep_revisions_takes_revisions_that_once_deployed(stack, emulator, pipeline, ecs, names):
    params = one(ecs, pipeline, names)
    for n in range(3, 6):  # :3, :4, :5, each deployed successfully
        run = pipeline.run(params, artifacts=build(pipeline, f"{names['key']}-{n}", [("web", image(f"{n}{n}{n}{n}{n}{n}{n}"))]))
        assert run.status == "Succeeded", run.failure
    run = pipeline.run(dict(params, keepRevisions=2), artifacts=build(pipeline, names["key"] + "-6", [("web", image("6666666"))]))
    assert run.status == "Succeeded", run.failure
    active = sorted(int(a.rsplit(":", 1)[1]) for a in ecs.ecs.list_task_definitions(familyPrefix=names["service"], status="ACTIVE")["taskDefinitionArns"])
    assert active == [5, 6], (active, run.summaries[-1])
    assert "keepRevisions 2: deregistered 4 old revision(s)" in run.summaries[-1], run.summaries[-1]


def test_keep_revisions_never_takes_what_another_service_runs(stack, emulator, pipeline, ecs, names):
    params = one(ecs, pipeline, names)  # :1 → :2
    # A service in a second cluster runs :1 of the same family (staging and prod share it).
    other = f"other-{uuid.uuid4().hex[:6]}"
    ecs.ecs.create_cluster(clusterName=other)
    ecs.ecs.create_service(cluster=other, serviceName="prod", taskDefinition=f"{names['service']}:1", desiredCount=1)
    for n in range(3, 5):
        run = pipeline.run(params, artifacts=build(pipeline, f"{names['key']}-{n}", [("web", image(f"{n}{n}{n}{n}{n}{n}{n}"))]))
        assert run.status == "Succeeded", run.failure
    run = pipeline.run(dict(params, keepRevisions=1), artifacts=build(pipeline, names["key"] + "-5", [("web", image("5555555"))]))
    assert run.status == "Succeeded", run.failure
    active = sorted(int(a.rsplit(":", 1)[1]) for a in ecs.ecs.list_task_definitions(familyPrefix=names["service"], status="ACTIVE")["taskDefinitionArns"])
    assert 1 in active, "the revision the other cluster's service runs stays ACTIVE"
    assert active == [1, 4, 5], active
    summary = "\n".join(run.summaries)
    assert "run or being deployed by a service in this account and region" in summary, summary
