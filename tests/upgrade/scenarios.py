"""The scenarios whose tokens a previous release recorded (record.py), and how to build the same ECS state with
plain API calls (rebuild), so that the current binary can be handed the recorded token verbatim.

A recorded token's deadline is an hour after its recording, long past when the tests run. So the replay moves
each deployment on (``look`` steps: the emulator moves a deployment one step per look) until the current binary's
first look meets it in a final state, or at a pause hook: what is tested is that the old format is read and
judged, not the clock. The one in-progress case past its deadline is tested on purpose (recorded with a one-minute
timeout).

Names and service deployment ids are fixed per scenario; each scenario has its own cluster and services, so
that every one can be replayed once in a shared emulator.
"""

from emulator.harness import image_definitions, zip_bytes

REPO = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
OLD, NEW = f"{REPO}/web:1111111", f"{REPO}/web:2222222"
ROLLING = {"strategy": "ROLLING", "deploymentCircuitBreaker": {"enable": True, "rollback": True}}
PAUSE = {"targetType": "PAUSE", "lifecycleStages": ["POST_TEST_TRAFFIC_SHIFT"], "roleArn": "arn:aws:iam::123456789012:role/hooks",
         "timeoutConfiguration": {"timeoutInMinutes": 120, "action": "ROLLBACK"}}
CANARY = {"strategy": "CANARY", "bakeTimeInMinutes": 10, "canaryConfiguration": {"canaryPercent": 10.0, "canaryBakeTimeInMinutes": 20},
          "lifecycleHooks": [PAUSE]}


def _ids(prefix, n=4):
    """Fixed service deployment ids (21 characters, as ECS's are)."""
    return [(f"{prefix}{i}" + "x" * 21)[:21] for i in range(n)]


def _one(cluster, service, config=ROLLING, looks=1, minutes_per_look=5):
    return {"cluster": cluster, "services": {service: {"containers": ["web"], "config": config, "looks": looks,
                                                       "minutes_per_look": minutes_per_look, "ids": _ids(service.replace("-", ""))}}}


SCENARIOS = {
    # v2: a release followed by its service deployment.
    "v2-deploy": dict(_one("upg-v2d", "upg-v2d-web", looks=2), user={"cluster": "upg-v2d", "service": "upg-v2d-web"},
                      replay=[("release", "upg-v2d-web"), ("look", "upg-v2d-web", 3)]),
    "v2-deploy-fails": dict(_one("upg-v2f", "upg-v2f-web"), user={"cluster": "upg-v2f", "service": "upg-v2f-web"},
                            replay=[("release", "upg-v2f-web")], replay_scenario={"upg-v2f-web": "fail"}),
    # v2 past its deadline (recorded with a one-minute timeout): the deployment still going is rolled back.
    "v2-timeout": dict(_one("upg-v2t", "upg-v2t-web"), scenario={"upg-v2t-web": "stuck"},
                       user={"cluster": "upg-v2t", "service": "upg-v2t-web", "timeoutMinutes": 1},
                       replay=[("release", "upg-v2t-web")]),
    # v2 with "paused": waiting at a pause hook is the action's success.
    "v2-paused": dict(_one("upg-v2p", "upg-v2p-web", config=CANARY, minutes_per_look=10),
                      user={"cluster": "upg-v2p", "service": "upg-v2p-web", "wait": "paused"},
                      replay=[("release", "upg-v2p-web"), ("look", "upg-v2p-web", 5)]),
    # v2 mode "undo": the rollback action stopped a deployment in progress with a rollback.
    "v2-undo": dict(_one("upg-v2u", "upg-v2u-web"), scenario={"upg-v2u-web": "stuck"},
                    before=[{"cluster": "upg-v2u", "service": "upg-v2u-web", "wait": False}],
                    user={"cluster": "upg-v2u", "service": "upg-v2u-web", "action": "rollback"},
                    replay=[("release", "upg-v2u-web"), ("stop", "upg-v2u-web"), ("look", "upg-v2u-web", 1)]),
    # v2 mode "revert": the rollback action deployed the previous revision again.
    "v2-revert": dict(_one("upg-v2r", "upg-v2r-web"), before=[{"cluster": "upg-v2r", "service": "upg-v2r-web"}],
                      user={"cluster": "upg-v2r", "service": "upg-v2r-web", "action": "rollback"},
                      replay=[("release", "upg-v2r-web"), ("look", "upg-v2r-web", 3), ("revert", "upg-v2r-web"),
                              ("look", "upg-v2r-web", 2)]),
    # v2 with keepRevisions.
    "v2-keep": dict(_one("upg-v2k", "upg-v2k-web"), user={"cluster": "upg-v2k", "service": "upg-v2k-web", "keepRevisions": 1},
                    replay=[("release", "upg-v2k-web"), ("look", "upg-v2k-web", 2)]),
    # v3: two services, atomic; replayed with the worker's deployment failing.
    "v3-atomic": {"cluster": "upg-v3a", "services": {
        "upg-v3a-web": {"containers": ["web"], "config": ROLLING, "looks": 1, "minutes_per_look": 5, "ids": _ids("upgv3aweb")},
        "upg-v3a-worker": {"containers": ["worker"], "config": ROLLING, "looks": 1, "minutes_per_look": 5, "ids": _ids("upgv3awrk")}},
        "user": {"cluster": "upg-v3a", "services": ["upg-v3a-web", "upg-v3a-worker"], "atomic": True},
        "replay": [("release", "upg-v3a-web"), ("release", "upg-v3a-worker")], "replay_scenario": {"upg-v3a-worker": "fail"}},
    # v3 after one look: the token remembers each service's stage.
    "v3-looked": {"cluster": "upg-v3l", "services": {
        "upg-v3l-web": {"containers": ["web"], "config": ROLLING, "looks": 3, "minutes_per_look": 5, "ids": _ids("upgv3lweb")},
        "upg-v3l-api": {"containers": ["api"], "config": ROLLING, "looks": 3, "minutes_per_look": 5, "ids": _ids("upgv3lapi")}},
        "user": {"cluster": "upg-v3l", "services": ["upg-v3l-web", "upg-v3l-api"]}, "looks": 1,
        "replay": [("release", "upg-v3l-web"), ("release", "upg-v3l-api"), ("look", "upg-v3l-web", 4), ("look", "upg-v3l-api", 4)]},
    # v1: a service whose deployments ECS reports no service deployment for (Classic Load Balancer).
    "v1-classic": dict(_one("upg-v1c", "upg-v1c-web", looks=2), scenario={"upg-v1c-web": "classic"},
                       user={"cluster": "upg-v1c", "service": "upg-v1c-web"}, replay=[("release", "upg-v1c-web"), ("look", "upg-v1c-web", 3)]),
}


def prepare(emulator, ecs, pipeline, scenario, kinds=None):
    """Seeds the scenario's services with their fixed service deployment ids and uploads its artifact; returns the
    action's input artifacts. `kinds` overrides the deployments' scenario per service."""
    kinds = dict(scenario.get("scenario", {}), **(kinds or {}))
    images = []
    for service, spec in scenario["services"].items():
        emulator.admin("POST", "ids", {"service": service, "ids": spec["ids"]})
        ecs.seed(scenario["cluster"], service, [(c, f"{REPO}/{c}:1111111") for c in spec["containers"]],
                 scenario=kinds.get(service, "complete"), config=spec["config"], looks=spec["looks"],
                 minutes_per_look=spec["minutes_per_look"])
        images += [(c, f"{REPO}/{c}:2222222") for c in spec["containers"]]
    key = f"upgrade/{scenario['cluster']}"
    pipeline.upload(key, zip_bytes({"imagedefinitions.json": image_definitions(images)}))
    return [("BuildOutput", key)]


def rebuild(emulator, ecs, scenario):
    """The ECS state the previous binary left when it wrote the token, made with plain API calls."""
    client = ecs.ecs
    cluster = scenario["cluster"]
    for step in scenario["replay"]:
        kind, service = step[0], step[1]
        current = ecs.service(cluster, service)
        if kind == "release":
            td = client.describe_task_definition(taskDefinition=current["taskDefinition"])["taskDefinition"]
            containers = [dict(c, image=c["image"].replace(":1111111", ":2222222")) for c in td["containerDefinitions"]]
            keep = ("family", "networkMode", "requiresCompatibilities", "cpu", "memory", "executionRoleArn",
                    "runtimePlatform", "ephemeralStorage")
            new = client.register_task_definition(containerDefinitions=containers, **{k: td[k] for k in keep if k in td})
            client.update_service(cluster=cluster, service=service, taskDefinition=new["taskDefinition"]["taskDefinitionArn"])
        elif kind == "look":
            arn = current["currentServiceDeployment"] if "currentServiceDeployment" in current else None
            for _ in range(step[2]):
                if arn:
                    client.describe_service_deployments(serviceDeploymentArns=[arn])
                else:
                    ecs.service(cluster, service)
        elif kind == "stop":
            client.stop_service_deployment(serviceDeploymentArn=current["currentServiceDeployment"], stopType="ROLLBACK")
        elif kind == "revert":
            first = current["taskDefinition"].rsplit(":", 1)[0] + ":1"
            client.update_service(cluster=cluster, service=service, taskDefinition=first)
        else:
            raise ValueError(kind)
