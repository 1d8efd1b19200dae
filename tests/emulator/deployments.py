"""ECS service deployments, as ECS reports them, for every strategy: moto has no service deployments and its
UpdateService starts no rollout. This model keeps, per service, its service deployments and service revisions,
and renders DescribeServices' ``deployments[]`` from them for callers that still read those.

Each deployment advances one step per look (DescribeServiceDeployments or DescribeServices naming it), on a
scripted clock: a step of a bake consumes ``minutes_per_look`` emulated minutes, so an hour of bake passes in a
few looks. Which AWS page each behaviour follows is written beside it:

- service-deployment.html, API_ServiceDeployment: statuses PENDING → IN_PROGRESS → SUCCESSFUL; STOP_REQUESTED →
  STOPPED; ROLLBACK_REQUESTED → ROLLBACK_IN_PROGRESS → ROLLBACK_SUCCESSFUL | ROLLBACK_FAILED; the lifecycle stages
  RECONCILE_SERVICE … BAKE_TIME, CLEAN_UP; targetServiceRevision / sourceServiceRevisions with task counts and
  traffic weights; ``rollback`` {reason, startedAt, serviceRevisionArn}.
- deployment-type-blue-green.html: scale up the green revision, test traffic, production traffic (all at once),
  bake time (bakeTimeInMinutes), clean up.
- API_LinearConfiguration / API_CanaryConfiguration: production traffic moves in steps of stepPercent (default
  10) with stepBakeTimeInMinutes (default 6) after each step but the last; canary: canaryPercent (default 5),
  canaryBakeTimeInMinutes (default 10), then the rest; then the final bake.
- deployment-failure-detection.html, API_ServiceDeploymentCircuitBreaker / Alarms: the circuit breaker or an alarm
  trips (status TRIGGERED, failureCount/threshold, triggeredAlarmNames) and, with rollback on, the deployment
  rolls back; with rollback off it ends STOPPED.
- pause-lifecycle-hooks.html, lambda-lifecycle-hooks.html, API_DeploymentLifecycleHook: at a hooked stage a PAUSE
  hook waits AWAITING_ACTION until ContinueServiceDeployment or its timeout (timeoutInMinutes, default 1440;
  action ROLLBACK (default) or CONTINUE, → TIMED_OUT); a Lambda hook answers SUCCEEDED or FAILED (→ rollback).
- stop-service-deployment.html, API_StopServiceDeployment: accepted in PENDING, IN_PROGRESS, STOP_REQUESTED,
  ROLLBACK_REQUESTED, ROLLBACK_IN_PROGRESS; ROLLBACK → ROLLBACK_REQUESTED, ABORT → STOP_REQUESTED; otherwise a
  ConflictException (the error the API reference lists for a resource in the wrong state).
- API_ContinueServiceDeployment: names a hook that awaits action; CONTINUE moves on, ROLLBACK rolls back; a hook
  that does not await action is a ConflictException.
- early-success-criteria.html: with earlySuccessCriteria the deployment is SUCCESSFUL while the source revision's
  tasks are still being cleaned up.
- A new UpdateService while a deployment is in progress replaces it; the replaced one ends STOPPED (an
  assumption of this model: ECS documents that a newer deployment supersedes it).

Scenarios (admin ``scenario``), per service name: ``complete`` (default), ``fail`` (the circuit breaker trips
during scale-up), ``alarm`` (an alarm trips during the bake, or at the end of a rolling scale-up), ``stuck``
(never scales up), ``rollback-failed`` (the breaker trips and the rollback fails), ``early`` (early success),
``classic`` (no service deployments at all: deployments[] without rolloutState, as behind a Classic Load
Balancer). Options: ``looks`` (scale-up steps), ``rollback_looks`` (looks a rollback stays in progress),
``minutes_per_look``, ``exit_code``, ``reason`` (stopped tasks),
``alarm`` (the alarm name), ``hook_result`` (what a Lambda hook answers), ``status`` (the service's status).
"""

import copy
import hashlib
import math
import random
import string
import threading
import time

from .jobs import ApiError

SCENARIOS = {"complete", "fail", "alarm", "stuck", "rollback-failed", "early", "classic"}
ACTIVE_STATUSES = {"PENDING", "IN_PROGRESS", "STOP_REQUESTED", "ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS"}
STOPPABLE = ACTIVE_STATUSES


def _rand(n, alphabet=string.ascii_letters + string.digits):
    return "".join(random.choice(alphabet) for _ in range(n))


def _deployment_id(sd_id):
    """The `ecs-svc/…` id of the deployment behind service deployment `sd_id` (derived, so that a replayed
    service deployment has the same one)."""
    return "ecs-svc/" + str(int(hashlib.sha256(sd_id.encode()).hexdigest(), 16) % 10**19).zfill(19)


def _digest(image):
    if "@sha256:" in image:
        return "sha256:" + image.split("@sha256:", 1)[1]
    return "sha256:" + hashlib.sha256(image.encode()).hexdigest()


class Model:
    def __init__(self):
        self.lock = threading.RLock()
        self.services = {}  # service ARN → state
        self.scenarios = {}  # service name → scenario
        self.ids = {}  # service name → the ids its next service deployments get (tests that replay recorded tokens)
        self.deployments = {}  # service deployment ARN → deployment
        self.revisions = {}  # service revision ARN → revision
        self.task_definitions = None  # set by the server: ARN → registered request

    # ---- scenarios --------------------------------------------------------------------------------------

    def set_scenario(self, service, kind="complete", polls=None, looks=None, **extra):
        assert kind in SCENARIOS, kind
        with self.lock:
            self.scenarios[service] = {"kind": kind, "looks": looks or polls or 1, "minutes_per_look": 5, "exit_code": 1,
                                       "reason": None, "status": None, "alarm": None, "hook_result": "SUCCEEDED", **extra}

    def set_ids(self, service, ids):
        with self.lock:
            self.ids[service] = list(ids)

    def _scenario(self, name):
        return self.scenarios.get(name) or {"kind": "complete", "looks": 1, "minutes_per_look": 5, "exit_code": 1,
                                            "reason": None, "status": None, "alarm": None, "hook_result": "SUCCEEDED"}

    # ---- services -----------------------------------------------------------------------------------------

    def _state(self, service_json, config=None):
        arn = service_json["serviceArn"]
        state = self.services.get(arn)
        if state is None:
            name = service_json["serviceName"]
            state = {"name": name, "arn": arn, "cluster": service_json["clusterArn"], "config": config or {},
                     "desired": service_json.get("desiredCount", 1), "current": None, "history": [], "events": [],
                     "stopped": [], "td": service_json["taskDefinition"], "classic": self._scenario(name)["kind"] == "classic",
                     "legacy": []}
            self.services[arn] = state
            # The service's first deployment, long finished.
            first = self._new_deployment(state, service_json["taskDefinition"], None, created=time.time() - 3600)
            first.update(status="SUCCESSFUL", stage="CLEAN_UP", step=len(first["steps"]), finished=True)
            first["target"]["running"] = state["desired"]
        return state

    def create_service(self, request, service_json):
        with self.lock:
            state = self._state(service_json, copy.deepcopy(request.get("deploymentConfiguration") or {}))
            return self._render_service(service_json, state)

    def update_service(self, request, service_json):
        """After moto's UpdateService: a new service deployment when the revision changes or is forced."""
        with self.lock:
            state = self._state(service_json)
            if request.get("deploymentConfiguration"):
                state["config"] = copy.deepcopy(request["deploymentConfiguration"])
            # Without taskDefinition the service keeps the revision it runs (API_UpdateService), which after a
            # rollback is this model's, not moto's.
            td = service_json["taskDefinition"] if request.get("taskDefinition") else state["td"]
            if td != state["td"] or request.get("forceNewDeployment"):
                current = self.deployments.get(state["current"])
                if current and current["status"] in ACTIVE_STATUSES:
                    current.update(status="STOPPED", finished=True,
                                   statusReason=f"Service deployment superseded by a newer service deployment.")
                source = current["target"]["revision"] if current and current["status"] == "SUCCESSFUL" else self._last_successful_revision(state)
                self._new_deployment(state, td, source)
                state["td"] = td
            return self._render_service(service_json, state)

    def describe_service(self, service_json):
        """One look at a service: its current deployment moves one step; then show it."""
        with self.lock:
            state = self._state(service_json)
            self._tick(state)
            return self._render_service(service_json, state)

    def _last_successful_revision(self, state):
        for arn in reversed(state["history"]):
            d = self.deployments[arn]
            if d["status"] == "SUCCESSFUL":
                return d["target"]["revision"]
        return None

    # ---- service deployments ----------------------------------------------------------------------------

    def _new_deployment(self, state, td, source_revision, created=None):
        scenario = self._scenario(state["name"])
        created = created or time.time()
        cluster_name = state["cluster"].split("/")[-1]
        queued = self.ids.get(state["name"]) or []
        sd_id = queued.pop(0) if queued else _rand(21)
        revision_arn = f"{state['arn'].replace(':service/', ':service-revision/')}/{_rand(19, string.digits)}"
        if revision_arn.count("/") == 2:  # old-format service ARN without the cluster
            revision_arn = revision_arn.replace(":service-revision/", f":service-revision/{cluster_name}/")
        self.revisions[revision_arn] = {
            "serviceRevisionArn": revision_arn, "serviceArn": state["arn"], "clusterArn": state["cluster"],
            "taskDefinition": td, "launchType": "FARGATE", "createdAt": created,
            "containerImages": [{"containerName": c.get("name"), "image": c.get("image"), "imageDigest": _digest(c.get("image", ""))}
                                for c in self._containers(td)],
        }
        deployment = {
            "arn": f"{state['arn'].split(':service/')[0]}:service-deployment/{cluster_name}/{state['name']}/{sd_id}",
            "dep": _deployment_id(sd_id), "service": state["arn"], "cluster": state["cluster"],
            "created": created, "elapsed": 0.0, "status": "PENDING", "statusReason": None, "stage": "RECONCILE_SERVICE",
            "config": copy.deepcopy(state["config"]), "scenario": dict(scenario), "step": 0, "finished": False,
            "target": {"revision": revision_arn, "td": td, "requested": state["desired"], "running": 0, "prod": 0.0, "test": 0.0},
            "source": source_revision, "source_running": state["desired"] if source_revision else 0,
            "source_dep": self.deployments[state["current"]]["dep"] if state["current"] else None,
            "hooks": [], "rollback": None, "breaker": None, "alarms": None, "hold": None, "rolling_back": 0,
        }
        deployment["steps"] = self._steps(deployment)
        for i, hook in enumerate(deployment["config"].get("lifecycleHooks") or []):
            hook_id = hook.get("hookId") or f"hook-{i + 1}"
            deployment["hooks"].append({"hookId": hook_id, "targetType": hook.get("targetType", "AWS_LAMBDA"),
                                        **({"targetArn": hook["hookTargetArn"]} if hook.get("hookTargetArn") else {}),
                                        "stages": hook.get("lifecycleStages") or [], "status": None, "fired": set(),
                                        "timeout": (hook.get("timeoutConfiguration") or {}).get("timeoutInMinutes", 1440),
                                        "action": (hook.get("timeoutConfiguration") or {}).get("action", "ROLLBACK")})
        self.deployments[deployment["arn"]] = deployment
        state["history"].append(deployment["arn"])
        state["current"] = deployment["arn"]
        return deployment

    def _containers(self, td):
        registered = (self.task_definitions or {}).get(td) or {}
        return registered.get("containerDefinitions") or []

    def _steps(self, d):
        """The states a deployment passes through, one per look: (stage, running fraction, prod, test, minutes)."""
        config, scenario = d["config"], d["scenario"]
        strategy = config.get("strategy", "ROLLING")
        per_look = float(scenario.get("minutes_per_look", 5))
        looks = max(1, int(scenario.get("looks", 1)))
        steps = []

        def bake(stage, minutes, prod, test):
            for _ in range(max(1, math.ceil(minutes / per_look))):
                steps.append((stage, 1.0, prod, test, min(per_look, minutes) if minutes else 0.0, "bake"))

        if strategy == "ROLLING":
            for i in range(1, looks + 1):
                steps.append(("SCALE_UP", i / looks, 0.0, 0.0, 1.0, "scale"))
            steps.append(("CLEAN_UP", 1.0, 0.0, 0.0, 1.0, "clean"))
            return steps
        steps.append(("PRE_SCALE_UP", 0.0, 0.0, 0.0, 1.0, ""))
        for i in range(1, looks + 1):
            steps.append(("SCALE_UP", i / looks, 0.0, 0.0, 1.0, "scale"))
        steps.append(("POST_SCALE_UP", 1.0, 0.0, 0.0, 1.0, ""))
        steps.append(("TEST_TRAFFIC_SHIFT", 1.0, 0.0, 100.0, 1.0, ""))
        steps.append(("POST_TEST_TRAFFIC_SHIFT", 1.0, 0.0, 100.0, 1.0, ""))
        if strategy == "LINEAR":
            linear = config.get("linearConfiguration") or {}
            step, step_bake = float(linear.get("stepPercent", 10.0)), float(linear.get("stepBakeTimeInMinutes", 6))
            weight = 0.0
            while weight < 100.0:
                weight = min(100.0, weight + step)
                steps.append(("PRODUCTION_TRAFFIC_SHIFT", 1.0, weight, 100.0, 1.0, ""))
                if weight < 100.0:
                    bake("PRODUCTION_TRAFFIC_SHIFT", step_bake, weight, 100.0)
        elif strategy == "CANARY":
            canary = config.get("canaryConfiguration") or {}
            percent = float(canary.get("canaryPercent", 5.0))
            steps.append(("PRODUCTION_TRAFFIC_SHIFT", 1.0, percent, 100.0, 1.0, ""))
            bake("PRODUCTION_TRAFFIC_SHIFT", float(canary.get("canaryBakeTimeInMinutes", 10)), percent, 100.0)
            steps.append(("PRODUCTION_TRAFFIC_SHIFT", 1.0, 100.0, 100.0, 1.0, ""))
        else:
            steps.append(("PRODUCTION_TRAFFIC_SHIFT", 1.0, 100.0, 100.0, 1.0, ""))
        steps.append(("POST_PRODUCTION_TRAFFIC_SHIFT", 1.0, 100.0, 100.0, 1.0, ""))
        bake("BAKE_TIME", float(config.get("bakeTimeInMinutes", 0)), 100.0, 100.0)
        steps.append(("CLEAN_UP", 1.0, 100.0, 100.0, 1.0, "clean"))
        return steps

    def _tick(self, state):
        d = self.deployments.get(state["current"])
        if d is None or d["finished"]:
            return
        self._advance(state, d)

    def _now(self, d):
        return d["created"] + d["elapsed"] * 60

    def _advance(self, state, d):
        scenario = d["scenario"]
        kind = scenario["kind"]
        if d["status"] in ("ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS"):
            return self._rollback_step(state, d)
        if d["status"] == "STOP_REQUESTED":
            d.update(status="STOPPED", finished=True)
            return
        if d["status"] == "PENDING":
            d["status"] = "IN_PROGRESS"
        if d["hold"] is not None:  # a pause hook awaiting action
            hook = d["hold"]
            d["elapsed"] += float(scenario.get("minutes_per_look", 5))
            if self._now(d) >= hook["expiresAt"]:
                hook["status"] = "TIMED_OUT"
                d["hold"] = None
                if hook["action"] == "ROLLBACK":
                    return self._start_rollback(state, d, f"Lifecycle hook {hook['hookId']} timed out.")
                hook["status"] = "SUCCEEDED"
            return
        if kind == "stuck":
            d["stage"] = "SCALE_UP"
            return
        if d["step"] >= len(d["steps"]):
            return self._succeed(state, d)
        stage, fraction, prod, test, minutes, what = d["steps"][d["step"]]
        d["step"] += 1
        d["elapsed"] += minutes
        d["stage"] = stage
        target = d["target"]
        target.update(running=int(round(target["requested"] * fraction)), prod=prod, test=test)
        if what == "clean" and kind == "early":
            d["source_running"] = max(1, d["source_running"] // 2)
            return self._succeed(state, d, early=True)
        if what == "clean":
            d["source_running"] = 0
        # Failure detection (deployment-failure-detection.html).
        last_scale = what == "scale" and (d["step"] >= len(d["steps"]) or d["steps"][d["step"]][5] != "scale")
        if kind in ("fail", "rollback-failed") and last_scale:
            return self._trip_breaker(state, d)
        alarm_here = (stage == "BAKE_TIME" or (last_scale and d["config"].get("strategy", "ROLLING") == "ROLLING"))
        if kind == "alarm" and alarm_here:
            names = (d["config"].get("alarms") or {}).get("alarmNames") or [scenario.get("alarm") or "service-5xx"]
            name = scenario.get("alarm") or names[0]
            d["alarms"] = {"status": "TRIGGERED", "alarmNames": names, "triggeredAlarmNames": [name]}
            self._event(state, f"(service {state['name']}) (deployment {d['dep']}) deployment failed: alarm detected.")
            return self._start_rollback(state, d, f"Alarm {name} was triggered.")
        # Lifecycle hooks at this stage (each fires once per stage; linear/canary steps share the stage).
        for hook in d["hooks"]:
            if stage in hook["stages"] and stage not in hook["fired"]:
                hook["fired"].add(stage)
                if hook["targetType"] == "PAUSE":
                    hook.update(status="AWAITING_ACTION", expiresAt=self._now(d) + hook["timeout"] * 60)
                    d["hold"] = hook
                    self._event(state, f"(service {state['name']}) service deployment is paused at {stage}, waiting for hook {hook['hookId']}.")
                    return
                result = scenario.get("hook_result", "SUCCEEDED")
                hook["status"] = result
                if result == "FAILED":
                    return self._start_rollback(state, d, f"Lifecycle hook {hook['hookId']} returned FAILED.")

    def _succeed(self, state, d, early=False):
        d.update(status="SUCCESSFUL", stage="CLEAN_UP", finished=True, finishedAt=self._now(d))
        d["target"].update(running=d["target"]["requested"])
        if not early:
            d["source_running"] = 0
        if d["breaker"] is None and self._breaker_on(d):
            d["breaker"] = {"status": "MONITORING_COMPLETE", "failureCount": 0, "threshold": 3}
        self._event(state, f"(service {state['name']}) deployment {d['dep']} deployment completed.")
        self._event(state, f"(service {state['name']}) has reached a steady state.")

    def _breaker_on(self, d):
        return bool((d["config"].get("deploymentCircuitBreaker") or {}).get("enable", True))

    def _trip_breaker(self, state, d):
        scenario = d["scenario"]
        d["breaker"] = {"status": "TRIGGERED", "failureCount": 3, "threshold": 3}
        d["target"].update(running=0)
        cluster = state["cluster"]
        for i in range(3):
            task_id = _rand(32, "0123456789abcdef")
            state["stopped"].append({
                "taskArn": f"{cluster.replace(':cluster/', ':task/')}/{task_id}", "clusterArn": cluster,
                "taskDefinitionArn": d["target"]["td"], "startedBy": d["dep"], "lastStatus": "STOPPED",
                "desiredStatus": "STOPPED", "stopCode": "EssentialContainerExited",
                "stoppedReason": "Essential container in task exited", "stoppedAt": time.time() - 10 + i,
                "containers": [{"name": state["name"], "lastStatus": "STOPPED", "exitCode": scenario["exit_code"],
                                **({"reason": scenario["reason"]} if scenario.get("reason") else {})}],
            })
        self._event(state, f"(service {state['name']}) (deployment {d['dep']}) deployment failed: tasks failed to start.")
        rollback = (d["config"].get("deploymentCircuitBreaker") or {}).get("rollback", True)
        if not rollback:
            d.update(status="STOPPED", finished=True, statusReason="ECS deployment circuit breaker: tasks failed to start.")
            return
        self._start_rollback(state, d, "ECS deployment circuit breaker: tasks failed to start.")

    def _start_rollback(self, state, d, reason, requested_by=None):
        d.update(status="ROLLBACK_REQUESTED", statusReason=requested_by or reason, hold=None)
        d["rollback"] = {"reason": reason, "startedAt": self._now(d), **({"serviceRevisionArn": d["source"]} if d["source"] else {})}
        if d["source"]:
            source_td = self.revisions[d["source"]]["taskDefinition"]
            self._event(state, f"(service {state['name']}) rolling back to {source_td.split('/')[-1]}.")

    def _rollback_step(self, state, d):
        if d["status"] == "ROLLBACK_REQUESTED":
            d["status"] = "ROLLBACK_IN_PROGRESS"
            return
        # A rollback that takes longer (option rollback_looks: looks spent in ROLLBACK_IN_PROGRESS).
        d["rolling_back"] += 1
        if d["rolling_back"] < int(d["scenario"].get("rollback_looks", 1)):
            return
        if d["scenario"]["kind"] == "rollback-failed":
            d.update(status="ROLLBACK_FAILED", finished=True, statusReason="Rollback failed: tasks of the source revision failed to start.")
            return
        d.update(status="ROLLBACK_SUCCESSFUL", finished=True)
        d["target"].update(running=0, prod=0.0, test=0.0)
        if d["source"]:
            state["td"] = self.revisions[d["source"]]["taskDefinition"]
            d["source_running"] = d["target"]["requested"]
        self._event(state, f"(service {state['name']}) has reached a steady state.")

    def _event(self, state, message):
        state["events"].insert(0, {"id": str(random.getrandbits(64)), "createdAt": time.time(), "message": message})

    # ---- the API --------------------------------------------------------------------------------------------

    def describe_service_deployments(self, request):
        arns = request.get("serviceDeploymentArns") or []
        if not arns or len(arns) > 20:
            raise ApiError("InvalidParameterException", "serviceDeploymentArns must hold 1 to 20 ARNs.")
        found, failures = [], []
        with self.lock:
            for arn in arns:
                d = self.deployments.get(arn)
                if d is None:
                    failures.append({"arn": arn, "reason": "MISSING"})
                    continue
                state = self.services[d["service"]]
                if state["current"] == arn:
                    self._tick(state)
                found.append(self._render_deployment(d))
        return {"serviceDeployments": found, "failures": failures}

    def describe_service_revisions(self, request):
        arns = request.get("serviceRevisionArns") or []
        if not arns or len(arns) > 20:
            raise ApiError("InvalidParameterException", "serviceRevisionArns must hold 1 to 20 ARNs.")
        with self.lock:
            found = [copy.deepcopy(self.revisions[a]) for a in arns if a in self.revisions]
            failures = [{"arn": a, "reason": "MISSING"} for a in arns if a not in self.revisions]
        return {"serviceRevisions": found, "failures": failures}

    def list_service_deployments(self, request):
        service, cluster = request.get("service", ""), request.get("cluster", "default")
        with self.lock:
            state = next((s for s in self.services.values() if _matches(s["arn"], service) and _matches(s["cluster"], cluster)), None)
            if state is None:
                raise ApiError("ServiceNotFoundException", "Service not found.")
            if state["classic"]:
                return {"serviceDeployments": []}
            statuses = set(request.get("status") or [])
            created = request.get("createdAt") or {}
            briefs = []
            for arn in reversed(state["history"]):
                d = self.deployments[arn]
                if statuses and d["status"] not in statuses:
                    continue
                if "after" in created and d["created"] < float(created["after"]):
                    continue
                if "before" in created and d["created"] > float(created["before"]):
                    continue
                briefs.append({"serviceDeploymentArn": d["arn"], "serviceArn": d["service"], "clusterArn": d["cluster"],
                               "createdAt": d["created"], "startedAt": d["created"], "status": d["status"],
                               "targetServiceRevisionArn": d["target"]["revision"],
                               **({"statusReason": d["statusReason"]} if d["statusReason"] else {})})
        return {"serviceDeployments": briefs[: int(request.get("maxResults") or 20)]}

    def stop_service_deployment(self, request):
        with self.lock:
            d = self._deployment(request)
            stop_type = request.get("stopType", "ROLLBACK")
            if d["status"] not in STOPPABLE:
                raise ApiError("ConflictException", f"The service deployment is {d['status']} and cannot be stopped.")
            if d["status"] in ("PENDING", "IN_PROGRESS"):
                state = self.services[d["service"]]
                if stop_type == "ROLLBACK":
                    self._start_rollback(state, d, "Rollback requested by StopServiceDeployment.",
                                         requested_by="Service deployment rollback requested by user through StopServiceDeployment.")
                else:
                    d.update(status="STOP_REQUESTED", hold=None, statusReason="Service deployment stopped by user through StopServiceDeployment.")
            return {"serviceDeploymentArn": d["arn"]}

    def continue_service_deployment(self, request):
        with self.lock:
            d = self._deployment(request)
            hook_id, action = request.get("hookId"), request.get("action", "CONTINUE")
            hook = next((h for h in d["hooks"] if h["hookId"] == hook_id), None)
            if hook is None:
                raise ApiError("InvalidParameterException", f"The service deployment has no lifecycle hook {hook_id}.")
            if d["status"] not in ("PENDING", "IN_PROGRESS") or hook["status"] != "AWAITING_ACTION":
                raise ApiError("ConflictException", f"Lifecycle hook {hook_id} is {hook['status']} and the deployment is {d['status']}; it does not await action.")
            d["hold"] = None
            if action == "ROLLBACK":
                hook["status"] = "FAILED"
                self._start_rollback(self.services[d["service"]], d, f"Rollback requested through ContinueServiceDeployment at hook {hook_id}.")
            else:
                hook["status"] = "SUCCEEDED"
            return {"serviceDeploymentArn": d["arn"]}

    def _deployment(self, request):
        d = self.deployments.get(request.get("serviceDeploymentArn", ""))
        if d is None:
            raise ApiError("ServiceDeploymentNotFoundException", "The service deployment does not exist.")
        return d

    # ---- rendering ----------------------------------------------------------------------------------------

    def _render_deployment(self, d):
        target = d["target"]
        out = {
            "serviceDeploymentArn": d["arn"], "serviceArn": d["service"], "clusterArn": d["cluster"],
            "createdAt": d["created"], "startedAt": d["created"], "updatedAt": self._now(d), "status": d["status"],
            "lifecycleStage": d["stage"], "deploymentConfiguration": copy.deepcopy(d["config"]),
            "targetServiceRevision": {"arn": target["revision"], "requestedTaskCount": target["requested"],
                                      "runningTaskCount": target["running"],
                                      "pendingTaskCount": max(0, target["requested"] - target["running"]) if d["status"] in ACTIVE_STATUSES else 0},
            "sourceServiceRevisions": [],
        }
        if d["config"].get("strategy", "ROLLING") != "ROLLING":
            out["targetServiceRevision"].update(requestedProductionTrafficWeight=target["prod"], requestedTestTrafficWeight=target["test"])
        if d["source"]:
            out["sourceServiceRevisions"].append({"arn": d["source"], "requestedTaskCount": d["source_running"],
                                                  "runningTaskCount": d["source_running"], "pendingTaskCount": 0})
        if d["statusReason"]:
            out["statusReason"] = d["statusReason"]
        if d["finished"]:
            out["finishedAt"] = d.get("finishedAt", self._now(d))
        if d["rollback"]:
            out["rollback"] = dict(d["rollback"])
        if d["breaker"]:
            out["deploymentCircuitBreaker"] = dict(d["breaker"])
        elif self._breaker_on(d) and d["status"] in ACTIVE_STATUSES:
            out["deploymentCircuitBreaker"] = {"status": "MONITORING", "failureCount": 0, "threshold": 3}
        if d["alarms"]:
            out["alarms"] = dict(d["alarms"])
        hooks = [{k: v for k, v in h.items() if k in ("hookId", "targetType", "targetArn", "status", "expiresAt")}
                 | ({"timeoutAction": h["action"]} if h["status"] == "AWAITING_ACTION" else {})
                 for h in d["hooks"] if h["status"]]
        if hooks:
            out["lifecycleHookDetails"] = hooks
        return out

    def _render_service(self, service_json, state):
        service_json = dict(service_json)
        d = self.deployments.get(state["current"])
        service_json["taskDefinition"] = state["td"]
        service_json["deploymentConfiguration"] = copy.deepcopy(state["config"])
        service_json["deployments"] = self._legacy_deployments(state, d)
        service_json["runningCount"] = sum(x["runningCount"] for x in service_json["deployments"])
        service_json["pendingCount"] = sum(x["pendingCount"] for x in service_json["deployments"])
        service_json["desiredCount"] = state["desired"]
        service_json["events"] = list(state["events"])
        if not state["classic"]:
            service_json["currentServiceDeployment"] = d["arn"]
            service_json["currentServiceRevisions"] = [{"arn": d["target"]["revision"], "requestedTaskCount": d["target"]["requested"],
                                                        "runningTaskCount": d["target"]["running"], "pendingTaskCount": 0}]
        status = self._scenario(state["name"]).get("status")
        if status:
            service_json["status"] = status
        return service_json

    def _legacy_deployments(self, state, d):
        """DescribeServices' deployments[] (API_Deployment), derived from the service deployment."""
        classic = state["classic"]

        def entry(dep_id, td, status, running, rollout, created, reason=None, failed=0):
            e = {"id": dep_id, "status": status, "taskDefinition": td, "desiredCount": state["desired"] if status == "PRIMARY" else 0,
                 "pendingCount": max(0, state["desired"] - running) if status == "PRIMARY" and rollout == "IN_PROGRESS" else 0,
                 "runningCount": running, "failedTasks": failed, "createdAt": created, "updatedAt": created, "launchType": "FARGATE"}
            if not classic:
                e["rolloutState"] = rollout
                e["rolloutStateReason"] = reason or {"COMPLETED": "ECS deployment completed.", "FAILED": "ECS deployment failed.",
                                                     "IN_PROGRESS": f"ECS deployment {dep_id} in progress."}[rollout]
            return e

        target = d["target"]
        source_td = self.revisions[d["source"]]["taskDefinition"] if d["source"] else None
        if d["status"] == "SUCCESSFUL":
            return [entry(d["dep"], target["td"], "PRIMARY", target["running"], "COMPLETED", d["created"])]
        if d["status"] == "STOPPED":
            # Stopped without a rollback: the service stays on the target revision (stop-service-deployment.html).
            rollout = "FAILED" if d["breaker"] else "COMPLETED"
            return [entry(d["dep"], target["td"], "PRIMARY", target["running"], rollout, d["created"], reason=d["statusReason"],
                          failed=(d["breaker"] or {}).get("failureCount", 0))]
        if d["status"] in ("PENDING", "IN_PROGRESS", "STOP_REQUESTED"):
            out = [entry(d["dep"], target["td"], "PRIMARY", target["running"], "IN_PROGRESS", d["created"])]
            if source_td:
                out.append(entry(d["source_dep"] or "ecs-svc/0", source_td, "ACTIVE", d["source_running"], "COMPLETED", d["created"] - 3600))
            return out
        failed = entry(d["dep"], target["td"], "ACTIVE", 0, "FAILED", d["created"],
                       reason=d["rollback"]["reason"] if d["rollback"] else d["statusReason"], failed=(d["breaker"] or {}).get("failureCount", 0))
        if not source_td:
            failed["status"] = "PRIMARY"
            return [failed]
        rollback_id = d.setdefault("rollback_dep", "ecs-svc/" + _rand(19, string.digits))
        done = d["status"] == "ROLLBACK_SUCCESSFUL"
        return [entry(rollback_id, source_td, "PRIMARY", state["desired"] if done else 0, "COMPLETED" if done else "IN_PROGRESS", time.time()), failed]

    # ---- diagnostics and admin -----------------------------------------------------------------------------

    def stopped_tasks(self, started_by=None, arns=None):
        with self.lock:
            tasks = [t for s in self.services.values() for t in s["stopped"]]
        if started_by is not None:
            return [t for t in tasks if t["startedBy"] == started_by]
        return [t for t in tasks if t["taskArn"] in (arns or [])]

    def knows_deployment(self, deployment_id):
        with self.lock:
            return any(d["dep"] == deployment_id for d in self.deployments.values())

    def service_state(self, name):
        with self.lock:
            for arn, state in self.services.items():
                if arn.endswith("/" + name):
                    return {"current": state["current"], "taskDefinition": state["td"],
                            "deployments": [self._render_deployment(self.deployments[a]) for a in state["history"]],
                            "events": list(state["events"])}
        return None


def _matches(arn, name):
    return arn == name or arn.split("/")[-1] == name
