"""ECS deployments that move on: moto's UpdateService starts none and its rollouts never finish.

Each service follows a scenario, advanced by one step per DescribeServices that names it:
- ``complete`` (default): COMPLETED after ``polls`` looks, tasks coming up on the way
- ``fail``: the deployment circuit breaker fails it after ``polls`` looks and rolls back, leaving stopped
  tasks and service events behind
- ``stuck``: IN_PROGRESS for ever
- ``replaced``: another deployment becomes PRIMARY after ``polls`` looks
- ``classic``: deployments carry no rolloutState (as behind a Classic Load Balancer); stable after ``polls``
"""

import random
import threading
import time

SCENARIOS = {"complete", "fail", "stuck", "replaced", "classic"}


def _deployment_id():
    return "ecs-svc/" + "".join(random.choice("0123456789") for _ in range(19))


class Rollouts:
    def __init__(self):
        self.lock = threading.Lock()
        self.services = {}  # service ARN → state
        self.scenarios = {}  # service name → scenario

    def set_scenario(self, service, kind="complete", polls=1, exit_code=1, reason=None, status=None):
        assert kind in SCENARIOS, kind
        with self.lock:
            self.scenarios[service] = {"kind": kind, "polls": polls, "exit_code": exit_code, "reason": reason, "status": status}

    def _scenario(self, service_json):
        return self.scenarios.get(service_json["serviceName"], {"kind": "complete", "polls": 1, "exit_code": 1, "reason": None, "status": None})

    def _state(self, service_json):
        arn = service_json["serviceArn"]
        state = self.services.get(arn)
        if state is None:
            td = service_json["taskDefinition"]
            desired = service_json.get("desiredCount", 1)
            first = {
                "id": _deployment_id(), "status": "PRIMARY", "taskDefinition": td, "desiredCount": desired,
                "pendingCount": 0, "runningCount": desired, "failedTasks": 0, "createdAt": time.time() - 3600,
                "updatedAt": time.time() - 3600, "launchType": "FARGATE", "rolloutState": "COMPLETED",
                "rolloutStateReason": "ECS deployment completed.",
            }
            if self._scenario(service_json)["kind"] == "classic":
                first.pop("rolloutState"), first.pop("rolloutStateReason")
            state = {"deployments": [first], "events": [], "stopped": [], "polls": 0, "desired": desired}
            self.services[arn] = state
        return state

    def update_service(self, request, service_json):
        """After moto's UpdateService: start a new PRIMARY deployment when the revision changes or is forced."""
        with self.lock:
            state = self._state(service_json)
            primary = state["deployments"][0]
            td = service_json["taskDefinition"]
            if td == primary["taskDefinition"] and not request.get("forceNewDeployment"):
                return self._render(service_json, state)
            for d in state["deployments"]:
                d["status"] = "ACTIVE"
            new = {
                "id": _deployment_id(), "status": "PRIMARY", "taskDefinition": td, "desiredCount": state["desired"],
                "pendingCount": state["desired"], "runningCount": 0, "failedTasks": 0, "createdAt": time.time(),
                "updatedAt": time.time(), "launchType": "FARGATE", "rolloutState": "IN_PROGRESS",
            }
            new["rolloutStateReason"] = f"ECS deployment {new['id']} in progress."
            if self._scenario(service_json)["kind"] == "classic":
                new.pop("rolloutState"), new.pop("rolloutStateReason")
            state["deployments"].insert(0, new)
            state["polls"] = 0
            state["replaced"] = False
            return self._render(service_json, state)

    def describe(self, service_json):
        """One look at a service: advance its scenario one step, then show it."""
        with self.lock:
            state = self._state(service_json)
            self._advance(service_json, state)
            return self._render(service_json, state)

    def _advance(self, service_json, state):
        ours = state["deployments"][0]
        if state.get("replaced") or ours.get("rolloutState", "IN_PROGRESS") != "IN_PROGRESS" or len(state["deployments"]) == 1 and ours["runningCount"] == ours["desiredCount"]:
            return
        scenario = self._scenario(service_json)
        state["polls"] += 1
        kind, polls, name = scenario["kind"], scenario["polls"], service_json["serviceName"]
        desired = ours["desiredCount"]
        if kind in ("complete", "classic"):
            if state["polls"] >= polls:
                ours.update(runningCount=desired, pendingCount=0, updatedAt=time.time())
                state["deployments"] = [ours]
                if kind == "complete":
                    ours.update(rolloutState="COMPLETED", rolloutStateReason="ECS deployment completed.")
                    self._event(state, f"(service {name}) deployment {ours['id']} deployment completed.")
                self._event(state, f"(service {name}) has reached a steady state.")
            else:
                ours["runningCount"] = desired * state["polls"] // polls
                self._event(state, f"(service {name}) has started {max(1, desired // polls)} tasks.")
        elif kind == "stuck":
            ours["runningCount"] = 0
        elif kind == "fail" and state["polls"] >= polls:
            self._fail(service_json, state, scenario)
        elif kind == "replaced" and state["polls"] >= polls:
            other = dict(ours, id=_deployment_id(), createdAt=time.time(), runningCount=0)
            other["taskDefinition"] = state["deployments"][1]["taskDefinition"] if len(state["deployments"]) > 1 else ours["taskDefinition"]
            ours["status"] = "ACTIVE"
            state["deployments"].insert(0, other)
            state["replaced"] = True
            self._event(state, f"(service {name}) deployment {other['id']} started by another update.")

    def _fail(self, service_json, state, scenario):
        ours = state["deployments"][0]
        name = service_json["serviceName"]
        previous = next((d for d in state["deployments"][1:]), None)
        reason = "ECS deployment circuit breaker: tasks failed to start."
        ours.update(status="ACTIVE", rolloutState="FAILED", rolloutStateReason=reason, failedTasks=3, runningCount=0, pendingCount=0)
        for i in range(3):
            task_id = "".join(random.choice("0123456789abcdef") for _ in range(32))
            state["stopped"].append({
                "taskArn": f"{service_json['clusterArn'].replace(':cluster/', ':task/')}/{task_id}",
                "clusterArn": service_json["clusterArn"],
                "taskDefinitionArn": ours["taskDefinition"],
                "startedBy": ours["id"],
                "lastStatus": "STOPPED",
                "desiredStatus": "STOPPED",
                "stopCode": "EssentialContainerExited",
                "stoppedReason": "Essential container in task exited",
                "stoppedAt": time.time() - 10 + i,
                "containers": [{
                    "name": name, "lastStatus": "STOPPED", "exitCode": scenario["exit_code"],
                    **({"reason": scenario["reason"]} if scenario["reason"] else {}),
                }],
            })
        self._event(state, f"(service {name}) (deployment {ours['id']}) deployment failed: tasks failed to start.")
        if previous is not None:
            rollback = dict(previous, id=_deployment_id(), status="PRIMARY", rolloutState="COMPLETED",
                            rolloutStateReason="ECS deployment completed.", createdAt=time.time(), runningCount=previous["desiredCount"])
            self._event(state, f"(service {name}) rolling back to deployment {rollback['id']}.")
            state["deployments"] = [rollback, ours]

    def _event(self, state, message):
        state["events"].insert(0, {"id": str(random.getrandbits(64)), "createdAt": time.time(), "message": message})

    def _render(self, service_json, state):
        service_json = dict(service_json)
        primary = state["deployments"][0]
        service_json["deployments"] = [dict(d) for d in state["deployments"]]
        service_json["taskDefinition"] = primary["taskDefinition"]
        service_json["runningCount"] = sum(d["runningCount"] for d in state["deployments"])
        service_json["pendingCount"] = sum(d["pendingCount"] for d in state["deployments"])
        service_json["desiredCount"] = state["desired"]
        service_json["events"] = list(state["events"])
        status = self._scenario(service_json).get("status")
        if status:
            service_json["status"] = status
        return service_json

    def stopped_tasks(self, started_by=None, arns=None):
        with self.lock:
            tasks = [t for s in self.services.values() for t in s["stopped"]]
        if started_by is not None:
            return [t for t in tasks if t["startedBy"] == started_by]
        return [t for t in tasks if t["taskArn"] in (arns or [])]

    def knows_deployment(self, deployment_id):
        with self.lock:
            return any(d["id"] == deployment_id for s in self.services.values() for d in s["deployments"])

    def service_state(self, name):
        with self.lock:
            for arn, state in self.services.items():
                if arn.endswith("/" + name):
                    return {"deployments": [dict(d) for d in state["deployments"]], "events": list(state["events"])}
        return None
