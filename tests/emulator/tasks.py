"""One-off ECS tasks (RunTask, DescribeTasks, StopTask, ListTasks by startedBy) and EventBridge Scheduler
schedules, per account and region, as AWS documents them; moto starts tasks RUNNING for good and updates a
schedule field by field.

Tasks — each DescribeTasks naming a task moves it one step, on a scenario set per task definition family
(admin ``task-scenario``): ``looks`` (looks it stays RUNNING, default 1), ``exit_code`` (the decisive
container's, default 0), ``exit_codes`` (per container name), ``start_failure`` (a stoppedReason: the task stops
with TaskFailedToStart before any container ran), ``failures`` (RunTask places nothing and answers these
``failures[]``), ``logs`` (the lines each container writes to its awslogs stream).

- API_RunTask: ``clientToken`` makes the request idempotent — the same token answers the same tasks, not new
  ones; ``count`` tasks; ``startedBy``, ``group``, ``overrides`` are kept on the task; ``failures[]`` {arn,
  reason, detail} for tasks that could not be placed.
- task-lifecycle-explanation.html: lastStatus PROVISIONING → PENDING → RUNNING → STOPPED (the steps between are
  not modelled), desiredStatus RUNNING until the task stops or is stopped.
- API_Task, stopped-task-error-codes.html: a stopped task has ``stopCode`` (EssentialContainerExited,
  TaskFailedToStart, UserInitiated), ``stoppedReason``, ``stoppedAt``, and ``containers[]`` with ``exitCode``
  (absent when the container never ran) and ``reason``.
- API_StopTask: desiredStatus STOPPED, stopCode UserInitiated, stoppedReason the request's ``reason``; the
  containers get SIGTERM and exit 143 here.
- API_ListTasks: ``startedBy`` filters; ``desiredStatus`` RUNNING (default) or STOPPED.
- using_awslogs.html: a container with the awslogs driver writes to the stream
  ``<awslogs-stream-prefix>/<container name>/<task id>`` of ``awslogs-group`` in ``awslogs-region``.

Schedules — API_CreateSchedule, API_GetSchedule, API_UpdateSchedule: "UpdateSchedule … uses all values,
including empty values, specified in the request and overrides the existing schedule … if you do not set an
optional field in your request, that field will be set to its system-default value after the update": a field
left out is reset (Description, StartDate, EndDate and KmsKeyArn dropped; ScheduleExpressionTimezone "UTC",
State "ENABLED", ActionAfterCompletion "NONE", and a target's RetryPolicy
{MaximumEventAgeInSeconds: 86400, MaximumRetryAttempts: 185}). A missing schedule is ResourceNotFoundException.
"""

import json
import threading
import time
import uuid
from urllib.parse import parse_qs, unquote

from .jobs import ApiError

TERM_EXIT = 143


class Tasks:
    def __init__(self, task_definitions, lock):
        self.task_definitions = task_definitions  # ARN → the RegisterTaskDefinition request (the emulator's)
        self.td_lock = lock
        self.lock = threading.RLock()
        self.tasks = {}  # task ARN → task (JSON, as DescribeTasks renders it) plus private fields
        self.tokens = {}  # (account, region, clientToken) → task ARNs
        self.scenarios = {}  # family → scenario
        self.run_requests = []  # every RunTask request, for the tests

    def set_scenario(self, family, **scenario):
        with self.lock:
            self.scenarios[family] = scenario

    def _definition(self, account, region, name):
        """The registered request of a task definition named by ARN or family:revision."""
        wanted = name.rsplit("/", 1)[-1]
        with self.td_lock:
            for arn, request in self.task_definitions.items():
                if arn.rsplit("/", 1)[-1] == wanted and (not name.startswith("arn:") or arn == name):
                    return arn, request
        raise ApiError("ClientException", f"Unable to describe task definition {name}.")

    def run_task(self, account, region, request):
        cluster = request.get("cluster", "default").rsplit("/", 1)[-1]
        token = request.get("clientToken")
        with self.lock:
            self.run_requests.append(request)
            if token and (account, region, token) in self.tokens:
                return {"tasks": [self._render(self.tasks[a]) for a in self.tokens[(account, region, token)]], "failures": []}
            arn, td = self._definition(account, region, request["taskDefinition"])
            family = td.get("family")
            scenario = self.scenarios.get(family, {})
            if scenario.get("failures"):
                return {"tasks": [], "failures": [dict(f, arn=f.get("arn", f"arn:aws:ecs:{region}:{account}:container-instance/{cluster}/x")) for f in scenario["failures"]]}
            overrides = request.get("overrides") or {}
            created = []
            for _ in range(int(request.get("count", 1))):
                task_id = uuid.uuid4().hex
                task_arn = f"arn:aws:ecs:{region}:{account}:task/{cluster}/{task_id}"
                task = {
                    "taskArn": task_arn,
                    "clusterArn": f"arn:aws:ecs:{region}:{account}:cluster/{cluster}",
                    "taskDefinitionArn": arn,
                    "lastStatus": "PROVISIONING",
                    "desiredStatus": "RUNNING",
                    "launchType": request.get("launchType"),
                    "capacityProviderName": (request.get("capacityProviderStrategy") or [{}])[0].get("capacityProvider"),
                    "startedBy": request.get("startedBy"),
                    "group": request.get("group") or f"family:{family}",
                    "overrides": {"containerOverrides": overrides.get("containerOverrides", [])},
                    "createdAt": time.time(),
                    "containers": [{"name": c["name"], "lastStatus": "PENDING", "containerArn": f"{task_arn}/{c['name']}"}
                                   for c in td.get("containerDefinitions", [])],
                    "_account": account, "_region": region, "_looks": 0, "_scenario": scenario, "_td": td,
                    "_network": request.get("networkConfiguration"),
                }
                self.tasks[task_arn] = task
                created.append(task_arn)
            if token:
                self.tokens[(account, region, token)] = created
            return {"tasks": [self._render(self.tasks[a]) for a in created], "failures": []}

    def ours(self, ids):
        with self.lock:
            return [a for a in self.tasks if a.rsplit("/", 1)[-1] in ids or a in ids]

    def describe_tasks(self, account, region, request, writer):
        ids = request.get("tasks", [])
        with self.lock:
            found, failures = [], []
            for name in ids:
                arn = next((a for a in self.tasks if a == name or a.rsplit("/", 1)[-1] == name), None)
                task = self.tasks.get(arn)
                if task is None or task["_account"] != account:
                    failures.append({"arn": name, "reason": "MISSING"})
                    continue
                self._step(task, writer)
                found.append(self._render(task))
            return {"tasks": found, "failures": failures}

    def _step(self, task, writer):
        """One look: PROVISIONING → PENDING → RUNNING (``looks`` looks) → STOPPED."""
        scenario = task["_scenario"]
        if task["lastStatus"] == "STOPPED":
            return
        task["_looks"] += 1
        if task["lastStatus"] == "PROVISIONING":
            if scenario.get("start_failure"):
                self._stop(task, "TaskFailedToStart", scenario["start_failure"], exit_codes=None)
            else:
                task["lastStatus"] = "PENDING"
            return
        if task["lastStatus"] == "PENDING":
            task["lastStatus"] = "RUNNING"
            task["startedAt"] = time.time()
            for c in task["containers"]:
                c["lastStatus"] = "RUNNING"
            return
        if task["_looks"] < 2 + int(scenario.get("looks", 1)):
            return
        codes = dict(scenario.get("exit_codes", {}))
        decisive = scenario.get("container") or task["containers"][0]["name"]
        codes.setdefault(decisive, int(scenario.get("exit_code", 0)))
        self._write_logs(task, writer)
        self._stop(task, "EssentialContainerExited", "Essential container in task exited", exit_codes=codes)

    def _stop(self, task, code, reason, exit_codes):
        task["lastStatus"] = "STOPPED"
        task["desiredStatus"] = "STOPPED"
        task["stopCode"] = code
        task["stoppedReason"] = reason
        task["stoppedAt"] = time.time()
        for c in task["containers"]:
            c["lastStatus"] = "STOPPED"
            if exit_codes is None:
                c["reason"] = reason.split(":", 1)[0]
            else:
                c["exitCode"] = exit_codes.get(c["name"], 0)

    def _write_logs(self, task, writer):
        lines = task["_scenario"].get("logs")
        if not lines:
            return
        env = {e["name"]: e["value"] for o in task["overrides"]["containerOverrides"] for e in o.get("environment", [])}
        for c in task["_td"].get("containerDefinitions", []):
            config = c.get("logConfiguration") or {}
            options = config.get("options") or {}
            if config.get("logDriver") != "awslogs" or "awslogs-stream-prefix" not in options:
                continue
            stream = f"{options['awslogs-stream-prefix']}/{c['name']}/{task['taskArn'].rsplit('/', 1)[-1]}"
            # The container prints what it was given: a test can see whether a value leaks into a report.
            rendered = [line.format(**env) if env else line for line in lines]
            writer(task["_account"], options.get("awslogs-region", task["_region"]), options["awslogs-group"], stream, rendered)

    def stop_task(self, account, request):
        name = request["task"]
        with self.lock:
            arn = next((a for a in self.tasks if a == name or a.rsplit("/", 1)[-1] == name), None)
            task = self.tasks.get(arn)
            if task is None or task["_account"] != account:
                raise ApiError("InvalidParameterException", "The referenced task was not found.")
            if task["lastStatus"] != "STOPPED":
                self._stop(task, "UserInitiated", request.get("reason", "Task stopped by user"), exit_codes={c["name"]: TERM_EXIT for c in task["containers"]})
            return {"task": self._render(task)}

    def list_tasks(self, account, request):
        by = request.get("startedBy")
        desired = request.get("desiredStatus", "RUNNING")
        with self.lock:
            arns = [a for a, t in self.tasks.items()
                    if t["startedBy"] == by and t["_account"] == account and t["desiredStatus"] == desired]
        return {"taskArns": arns}

    def knows_started_by(self, by):
        with self.lock:
            return any(t["startedBy"] == by for t in self.tasks.values())

    def _render(self, task):
        return {k: v for k, v in task.items() if not k.startswith("_") and v is not None}


class Schedules:
    """EventBridge Scheduler, full-replace UpdateSchedule (see the module's notes)."""

    def __init__(self):
        self.lock = threading.RLock()
        self.schedules = {}  # (account, region, group, name) → schedule (GetSchedule's answer)
        self.updates = []  # every UpdateSchedule request as sent

    def handle(self, account, region, method, path, query, body):
        name = unquote(path.rstrip("/").rsplit("/", 1)[-1])
        request = json.loads(body or b"{}")
        group = request.get("GroupName") or parse_qs(query).get("groupName", ["default"])[0]
        key = (account, region, group, name)
        with self.lock:
            if method == "POST":
                if key in self.schedules:
                    raise ApiError("ConflictException", f"Schedule {name} already exists.", 409)
                now = time.time()
                self.schedules[key] = dict(self._replace(request), Arn=f"arn:aws:scheduler:{region}:{account}:schedule/{group}/{name}",
                                           Name=name, GroupName=group, CreationDate=now, LastModificationDate=now)
                return "CreateSchedule", {"ScheduleArn": self.schedules[key]["Arn"]}
            if key not in self.schedules:
                raise ApiError("ResourceNotFoundException", f"Schedule {name} does not exist.", 404)
            if method == "GET":
                return "GetSchedule", self.schedules[key]
            if method == "PUT":
                self.updates.append(request)
                old = self.schedules[key]
                self.schedules[key] = dict(self._replace(request), Arn=old["Arn"], Name=name, GroupName=group,
                                           CreationDate=old["CreationDate"], LastModificationDate=time.time())
                return "UpdateSchedule", {"ScheduleArn": old["Arn"]}
            if method == "DELETE":
                del self.schedules[key]
                return "DeleteSchedule", {}
        raise ApiError("ValidationException", f"{method} {path} is not modelled")

    @staticmethod
    def _replace(request):
        """A schedule from a Create/UpdateSchedule request: every optional field not sent gets its default."""
        if "ScheduleExpression" not in request or "Target" not in request or "FlexibleTimeWindow" not in request:
            raise ApiError("ValidationException", "ScheduleExpression, Target and FlexibleTimeWindow are required")
        target = dict(request["Target"])
        target.setdefault("RetryPolicy", {"MaximumEventAgeInSeconds": 86400, "MaximumRetryAttempts": 185})
        schedule = {
            "ScheduleExpression": request["ScheduleExpression"],
            "ScheduleExpressionTimezone": request.get("ScheduleExpressionTimezone", "UTC"),
            "State": request.get("State", "ENABLED"),
            "ActionAfterCompletion": request.get("ActionAfterCompletion", "NONE"),
            "FlexibleTimeWindow": request["FlexibleTimeWindow"],
            "Target": target,
        }
        for optional in ("Description", "StartDate", "EndDate", "KmsKeyArn"):
            if optional in request:
                schedule[optional] = request[optional]
        return schedule
