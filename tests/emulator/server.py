"""The emulator's HTTP front: one endpoint on 127.0.0.1 for S3, ECS, ECR and CodePipeline.

Every request is counted (per operation, with the access key that signed it), may meet an injected fault
or the access policy, and then goes to the job API, the rollout model, or moto.

Admin API (unsigned, under /_emulator/): see ``Emulator.admin``.
"""

import argparse
import io
import json
import os
import re
import socket
import struct
import sys
import threading
import time
from collections import defaultdict

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server

from .deployments import Model
from .jobs import JOB_OPERATIONS, ApiError, Jobs
from .tasks import Schedules, Tasks

TARGETS = {"AmazonEC2ContainerServiceV20141113": "ecs", "CodePipeline_20150709": "codepipeline",
           "AmazonEC2ContainerRegistry_V20150921": "ecr", "Logs_20140328": "logs", "AWSEvents": "events"}
CREDENTIAL = re.compile(r"Credential=([^/]+)/[^/]+/[^/]+/([^/]+)/")
SCOPE = re.compile(r"Credential=[^/]+/[^/]+/([^/]+)/")
SCHEDULER_OPS = {"GET": "GetSchedule", "PUT": "UpdateSchedule", "POST": "CreateSchedule", "DELETE": "DeleteSchedule"}


class Faults:
    """Per operation, a queue of faults: {"kind": 5xx|throttle|denied|delay|reset, "times": n (-1: always),
    "match": text the request body must contain (a fault for one service only)}."""

    def __init__(self):
        self.lock = threading.Lock()
        self.rules = defaultdict(list)

    def add(self, op, kind, times=1, seconds=0.0, match=None):
        with self.lock:
            self.rules[op].append({"kind": kind, "times": times, "seconds": seconds, "match": match})

    def take(self, op, body=b""):
        with self.lock:
            rules = self.rules.get(op) or self.rules.get(op.split(":")[0] + ":*")
            if not rules:
                return None
            text = body.decode(errors="replace")
            rules = [r for r in rules if not r["match"] or r["match"] in text]
            if not rules:
                return None
            rule = rules[0]
            if rule["times"] > 0:
                rule["times"] -= 1
                if rule["times"] == 0:
                    self.rules[op if op in self.rules else op.split(":")[0] + ":*"].remove(rule)
            return dict(rule)

    def clear(self):
        with self.lock:
            self.rules.clear()


class Emulator:
    def __init__(self):
        self.moto = DomainDispatcherApplication(create_backend_app)
        self.jobs = Jobs()
        self.ecs_model = Model()
        self.faults = Faults()
        self.lock = threading.Lock()
        self.policy = {}  # access key → services it may call; empty: anyone may call anything
        self.task_definitions = {}  # ARN → the RegisterTaskDefinition request, for fields moto drops
        self.ecs_model.task_definitions = self.task_definitions
        self.tasks = Tasks(self.task_definitions, self.lock)
        self.schedules = Schedules()
        # STS AssumeRole (moto's, across accounts): roles whose trust policy does not name the caller, and every
        # AssumeRole request as sent (API_AssumeRole).
        self.denied_roles = set()
        self.assume_requests = []
        self.reset_stats()

    def reset_stats(self):
        with self.lock:
            self.calls = defaultdict(int)
            self.signers = defaultdict(list)
            self.s3_bytes = 0
            self.log = []

    # ---- WSGI ----------------------------------------------------------------------------------------

    def __call__(self, environ, start_response):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        if environ.get("PATH_INFO", "").startswith("/_emulator/"):
            return self.admin(environ, body, start_response)
        service, op = self.operation(environ, body)
        key = access_key(environ)
        with self.lock:
            self.calls[op] += 1
            self.signers[op].append(key)
            self.log.append({"op": op, "key": key, "at": time.time()})
        allowed = self.policy.get(key)
        if self.policy and (allowed is None or service not in allowed):
            return self.error(start_response, service, "denied", f"{key} is not authorized to perform: {op}")
        if op == "sts:AssumeRole":
            denied = self.denied_roles_for(body)
            if denied:
                return sts_access_denied(start_response, key, denied)
            with self.lock:
                self.assume_requests.append(parse_query(body))
        fault = self.faults.take(op, body)
        if fault:
            if fault["kind"] == "delay":
                time.sleep(fault["seconds"])
            elif fault["kind"] == "reset":
                return reset(environ, start_response)
            else:
                return self.error(start_response, service, fault["kind"], f"injected {fault['kind']} on {op}")
        action = op.split(":", 1)[1]
        account, region = account_of(key), region_of(environ)
        try:
            if service == "codepipeline" and action in JOB_OPERATIONS:
                return json_response(start_response, 200, self.jobs.handle(action, body))
            if service == "scheduler":
                _, answer = self.schedules.handle(account, region, environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""),
                                                  environ.get("QUERY_STRING", ""), body)
                return json_response(start_response, 200, answer)
            if service == "ecs":
                answer = self.ecs_before(action, body, account, region)
                if answer is not None:
                    return json_response(start_response, 200, answer)
        except ApiError as e:
            return json_response(start_response, e.status, {"__type": e.code, "message": e.message})
        status, headers, payload = self.forward(environ, body)
        if service in ("ecs", "ecr") and status.startswith("200"):
            payload = self.ecs_after(action, body, payload) if service == "ecs" else ecr_after(action, body, payload)
            headers = [(k, v) for k, v in headers if k.lower() != "content-length"] + [("Content-Length", str(len(payload)))]
        if op == "s3:GetObject":
            with self.lock:
                self.s3_bytes += len(payload)
        start_response(status, headers)
        return [payload]

    def operation(self, environ, body):
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if "." in target:
            prefix, action = target.split(".", 1)
            service = TARGETS.get(prefix, prefix)
            return service, f"{service}:{action}"
        match = CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
        service = match.group(2) if match else "s3"
        if service == "scheduler":
            return service, "scheduler:" + SCHEDULER_OPS.get(environ["REQUEST_METHOD"], environ["REQUEST_METHOD"])
        if service in ("sts", "iam"):
            action = re.search(rb"Action=([A-Za-z]+)", body)
            return service, f"{service}:{action.group(1).decode() if action else environ['REQUEST_METHOD']}"
        if service == "s3":
            path = environ.get("PATH_INFO", "/").strip("/")
            method = environ["REQUEST_METHOD"]
            has_key = "/" in path
            names = {("GET", True): "GetObject", ("HEAD", True): "HeadObject", ("PUT", True): "PutObject",
                     ("PUT", False): "CreateBucket", ("GET", False): "ListObjects", ("DELETE", True): "DeleteObject"}
            return "s3", "s3:" + names.get((method, has_key), f"{method}")
        return service, f"{service}:{environ['REQUEST_METHOD']}"

    def forward(self, environ, body):
        environ = dict(environ)
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        captured = {}

        def capture(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers
            return lambda data: None

        chunks = self.moto(environ, capture)
        try:
            payload = b"".join(chunks)
        finally:
            if hasattr(chunks, "close"):
                chunks.close()
        return captured["status"], captured["headers"], payload

    def error(self, start_response, service, kind, message):
        if service == "s3":
            code, status = {"5xx": ("InternalError", 500), "throttle": ("SlowDown", 503), "denied": ("AccessDenied", 403)}[kind]
            xml = f"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>{message}</Message><RequestId>emulator</RequestId></Error>"
            start_response(f"{status} Error", [("Content-Type", "application/xml"), ("Content-Length", str(len(xml)))])
            return [xml.encode()]
        code, status = {"5xx": ("ServerException", 500), "throttle": ("ThrottlingException", 400), "denied": ("AccessDeniedException", 400)}[kind]
        if service == "codepipeline" and kind == "5xx":
            code = "InternalFailure"
        return json_response(start_response, status, {"__type": code, "message": message})

    # ---- ECS overlay ---------------------------------------------------------------------------------

    # Operations moto lacks, answered by the service-deployment model (tests/emulator/deployments.py).
    MODEL_OPERATIONS = {
        "ListServiceDeployments": "list_service_deployments",
        "DescribeServiceDeployments": "describe_service_deployments",
        "DescribeServiceRevisions": "describe_service_revisions",
        "StopServiceDeployment": "stop_service_deployment",
        "ContinueServiceDeployment": "continue_service_deployment",
    }

    def ecs_before(self, action, body, account="123456789012", region="us-east-1"):
        request = json.loads(body or b"{}")
        if action in self.MODEL_OPERATIONS:
            return getattr(self.ecs_model, self.MODEL_OPERATIONS[action])(request)
        # One-off tasks (RunTask): tests/emulator/tasks.py.
        if action == "RunTask":
            return self.tasks.run_task(account, region, request)
        if action == "DescribeTasks" and self.tasks.ours(request.get("tasks", [])):
            return self.tasks.describe_tasks(account, region, request, write_logs)
        if action == "StopTask" and self.tasks.ours([request.get("task", "")]):
            return self.tasks.stop_task(account, request)
        if action == "ListTasks" and request.get("startedBy") and self.tasks.knows_started_by(request["startedBy"]):
            return self.tasks.list_tasks(account, request)
        if action == "ListTasks" and request.get("startedBy") and self.ecs_model.knows_deployment(request["startedBy"]):
            return {"taskArns": [t["taskArn"] for t in self.ecs_model.stopped_tasks(started_by=request["startedBy"])]}
        if action == "DescribeTasks":
            ours = self.ecs_model.stopped_tasks(arns=request.get("tasks", []))
            if ours:
                return {"tasks": ours, "failures": []}
        return None

    def ecs_after(self, action, body, payload):
        request = json.loads(body or b"{}")
        answer = json.loads(payload or b"{}")
        if action == "RegisterTaskDefinition":
            arn = answer["taskDefinition"]["taskDefinitionArn"]
            with self.lock:
                self.task_definitions[arn] = request
            answer["taskDefinition"] = self.full_task_definition(answer["taskDefinition"])
        elif action == "DescribeTaskDefinition":
            answer["taskDefinition"] = self.full_task_definition(answer["taskDefinition"])
        elif action == "ListTaskDefinitions":
            answer["taskDefinitionArns"] = list_task_definitions(answer.get("taskDefinitionArns", []), request)
        elif action == "CreateService":
            answer["service"] = self.ecs_model.create_service(request, answer["service"])
        elif action == "UpdateService":
            answer["service"] = self.ecs_model.update_service(request, answer["service"])
        elif action == "DescribeServices":
            answer["services"] = [self.ecs_model.describe_service(s) for s in answer.get("services", [])]
        return json.dumps(answer, default=str).encode()

    def denied_roles_for(self, body):
        role = parse_query(body).get("RoleArn", "")
        with self.lock:
            return role if role in self.denied_roles else None

    def full_task_definition(self, td):
        """moto keeps only some fields of RegisterTaskDefinition; show every field that was registered."""
        with self.lock:
            registered = self.task_definitions.get(td.get("taskDefinitionArn"))
        if registered:
            td = dict(td)
            for field, value in registered.items():
                if field != "tags":
                    td[field] = value
        return td

    # ---- admin ----------------------------------------------------------------------------------------

    def admin(self, environ, body, start_response):
        """GET stats | POST reset-stats | POST jobs {id, data} | GET jobs/<id> | POST faults {op, kind, times,
        seconds} | DELETE faults | POST scenario {service, kind, polls, exit_code, reason, status} |
        POST task-scenario {family, looks, exit_code, exit_codes, start_failure, failures, logs} | GET run-requests |
        GET schedule-updates | POST deny-assume {roles} | GET assumed (credentials STS handed out, and the requests) |
        POST policy {keys: {key: [services]}} | POST ids {service, ids} (the ids of the service's next service
        deployments) | GET service/<name> | GET health"""
        path = environ["PATH_INFO"][len("/_emulator/"):]
        method = environ["REQUEST_METHOD"]
        request = json.loads(body or b"{}")
        if path == "health":
            return json_response(start_response, 200, {"ok": True})
        if path == "stats":
            with self.lock:
                stats = {"calls": dict(self.calls), "signers": {k: list(v) for k, v in self.signers.items()}, "s3_bytes": self.s3_bytes, "log": list(self.log)}
            return json_response(start_response, 200, stats)
        if path == "reset-stats":
            self.reset_stats()
            return json_response(start_response, 200, {})
        if path == "jobs" and method == "POST":
            self.jobs.create(request["id"], request["data"], request.get("accountId", "123456789012"))
            return json_response(start_response, 200, {})
        if path.startswith("jobs/"):
            job = self.jobs.get(path[len("jobs/"):])
            return json_response(start_response, 200 if job else 404, job or {})
        if path == "faults" and method == "DELETE":
            self.faults.clear()
            return json_response(start_response, 200, {})
        if path == "faults":
            self.faults.add(request["op"], request["kind"], request.get("times", 1), request.get("seconds", 0.0), request.get("match"))
            return json_response(start_response, 200, {})
        if path == "scenario":
            service = request.pop("service")
            self.ecs_model.set_scenario(service, **request)
            return json_response(start_response, 200, {})
        if path == "task-scenario":
            family = request.pop("family")
            self.tasks.set_scenario(family, **request)
            return json_response(start_response, 200, {})
        if path == "run-requests":
            with self.tasks.lock:
                return json_response(start_response, 200, {"requests": list(self.tasks.run_requests)})
        if path == "schedule-updates":
            with self.schedules.lock:
                return json_response(start_response, 200, {"updates": list(self.schedules.updates)})
        if path == "deny-assume":
            with self.lock:
                self.denied_roles = set(request.get("roles", []))
            return json_response(start_response, 200, {})
        if path == "assumed":
            from moto.sts.models import sts_backends
            creds = []
            for account, backends in list(sts_backends.items()):
                for backend in backends.values():
                    for role in backend.assumed_roles:
                        creds.append({"account": account, "role": role.role_arn, "session": role.session_name,
                                      "AccessKeyId": role.access_key_id, "SecretAccessKey": role.secret_access_key,
                                      "SessionToken": role.session_token})
            with self.lock:
                requests = list(self.assume_requests)
            return json_response(start_response, 200, {"credentials": creds, "requests": requests})
        if path == "ids":
            self.ecs_model.set_ids(request["service"], request["ids"])
            return json_response(start_response, 200, {})
        if path == "policy":
            self.policy = request.get("keys", {})
            return json_response(start_response, 200, {})
        if path.startswith("service/"):
            return json_response(start_response, 200, self.ecs_model.service_state(path[len("service/"):]) or {})
        return json_response(start_response, 404, {"message": f"no admin route {path}"})


def list_task_definitions(arns, request):
    """ListTaskDefinitions' `sort` and `maxResults`, which moto ignores (API_ListTaskDefinitions: sorted by family
    name, then revision; ASC by default)."""
    def key(arn):
        family, _, revision = arn.rsplit("/", 1)[-1].rpartition(":")
        return family, int(revision or 0)

    arns = sorted(arns, key=key, reverse=request.get("sort") == "DESC")
    limit = request.get("maxResults")
    return arns[:limit] if limit else arns


def ecr_after(action, body, payload):
    """DescribeImages' `filter` (tagStatus TAGGED / UNTAGGED / ANY), which moto ignores (API_DescribeImages,
    API_DescribeImagesFilter)."""
    request = json.loads(body or b"{}")
    status = (request.get("filter") or {}).get("tagStatus", "ANY")
    if action != "DescribeImages" or status == "ANY":
        return payload
    answer = json.loads(payload or b"{}")
    answer["imageDetails"] = [d for d in answer.get("imageDetails", []) if bool(d.get("imageTags")) == (status == "TAGGED")]
    return json.dumps(answer, default=str).encode()


def account_of(key):
    """The account a request acts in: moto's, from its access key (an assumed role's keys are its account's)."""
    from moto.iam.models import get_account_id_from
    return get_account_id_from(key)


def region_of(environ):
    match = SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    return match.group(1) if match else "us-east-1"


def write_logs(account, region, group, stream, lines):
    """A container's output into its awslogs stream, in moto's CloudWatch Logs (using_awslogs.html)."""
    from moto.logs.models import logs_backends
    backend = logs_backends[account][region]
    if group not in backend.groups:
        backend.create_log_group(group, tags={})
    if stream not in backend.groups[group].streams:
        backend.create_log_stream(group, stream)
    now = int(time.time() * 1000)
    backend.put_log_events(group, stream, [{"timestamp": now + i, "message": line} for i, line in enumerate(lines)])


def parse_query(body):
    from urllib.parse import parse_qs
    return {k: v[0] for k, v in parse_qs((body or b"").decode(errors="replace")).items()}


def sts_access_denied(start_response, key, role):
    """STS's AccessDenied for a role whose trust policy does not allow the caller (API_AssumeRole, Errors): a
    query-protocol XML error, HTTP 403."""
    from moto.iam.models import get_account_id_from
    caller = f"arn:aws:sts::{get_account_id_from(key)}:assumed-role/ecs-deployer-role/ecs-deployer"
    message = f"User: {caller} is not authorized to perform: sts:AssumeRole on resource: {role}"
    xml = ("<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type>"
           f"<Code>AccessDenied</Code><Message>{message}</Message></Error><RequestId>emulator</RequestId></ErrorResponse>")
    start_response("403 Forbidden", [("Content-Type", "text/xml"), ("Content-Length", str(len(xml)))])
    return [xml.encode()]


def access_key(environ):
    match = CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
    return match.group(1) if match else "unsigned"


def json_response(start_response, status, value):
    payload = json.dumps(value, default=str).encode()
    reason = "OK" if status == 200 else "Error"
    start_response(f"{status} {reason}", [("Content-Type", "application/x-amz-json-1.1"), ("Content-Length", str(len(payload))), ("x-amzn-RequestId", "emulator")])
    return [payload]


def reset(environ, start_response):
    """Drops the connection with a TCP reset, answering nothing."""
    sock = environ.get("werkzeug.socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
    start_response("500 Reset", [("Content-Length", "0")])
    return [b""]


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--port-file", help="write the chosen port here once listening")
    args = parser.parse_args()
    server = make_server("127.0.0.1", args.port, Emulator(), threaded=True)
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(str(server.server_port))
        os.replace(tmp, args.port_file)
    print(f"emulator listening on 127.0.0.1:{server.server_port}", file=sys.stderr, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
