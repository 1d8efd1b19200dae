"""Starting the emulator, the Lambda Runtime API and the function binary, and playing CodePipeline.

Everything listens on 127.0.0.1 and every process started here is stopped by ``Stack.close`` (also on
failure, and at interpreter exit).
"""

import atexit
import copy
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
import zipfile
from pathlib import Path

import boto3
from botocore.config import Config

from .runtime import RuntimeApi

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
ACCOUNT = "123456789012"
# The pipeline role's temporary credentials, handed to the function as the job's artifactCredentials: secrets.
PIPELINE_KEY_ID = "AKIAPIPELINEROLE0001"
PIPELINE_SECRET = "pipeline-SECRET-must-never-be-logged-7f3a9c2b"
PIPELINE_TOKEN = "pipeline-SESSION-TOKEN-must-never-be-logged-19b2e8d4"
# The function's own role.
FUNCTION_KEY_ID = "AKIAFUNCTIONROLE0001"
FUNCTION_SECRET = "function-secret-key"
ARTIFACT_BUCKET = "codepipeline-artifacts-demo"

_live = []


def _stop_all():
    for proc in list(_live):
        _terminate(proc)


atexit.register(_stop_all)


def _terminate(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc in _live:
        _live.remove(proc)


def binary():
    return Path(os.environ.get("DEPLOYER_BIN", ROOT / "target" / "release" / "ecs-deployer"))


class EmulatorProcess:
    def __init__(self, log_dir):
        port_file = Path(log_dir) / "emulator.port"
        self.log = open(Path(log_dir) / "emulator.log", "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "emulator.server", "--port-file", str(port_file)],
            cwd=ROOT / "tests", stdout=self.log, stderr=subprocess.STDOUT,
        )
        _live.append(self.proc)
        for _ in range(300):
            if port_file.exists():
                break
            if self.proc.poll() is not None:
                raise RuntimeError(f"the emulator exited: see {self.log.name}")
            time.sleep(0.05)
        else:
            raise RuntimeError("the emulator did not start within 15 s")
        self.url = f"http://127.0.0.1:{port_file.read_text()}"

    def admin(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.url}/_emulator/{path}", data=data, method=method)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as e:
            if e.code == 404:
                return None
            raise

    def client(self, service, key_id=FUNCTION_KEY_ID, secret=FUNCTION_SECRET, region=REGION):
        return boto3.client(
            service, endpoint_url=self.url, region_name=region, aws_access_key_id=key_id, aws_secret_access_key=secret,
            config=Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"}),
        )

    def stats(self):
        return self.admin("GET", "stats")

    def assumed_client(self, service, role_arn, region=REGION):
        """A client acting in the role's account (STS AssumeRole with the function's keys, as moto maps the
        assumed keys to the role's account)."""
        creds = self.client("sts").assume_role(RoleArn=role_arn, RoleSessionName="test-setup")["Credentials"]
        return boto3.client(
            service, endpoint_url=self.url, region_name=region, aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"], aws_session_token=creds["SessionToken"],
            config=Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"}),
        )

    def fault(self, op, kind, times=1, seconds=0.0, match=None):
        self.admin("POST", "faults", {"op": op, "kind": kind, "times": times, "seconds": seconds, "match": match})

    def scenario(self, service, kind="complete", polls=1, **extra):
        self.admin("POST", "scenario", {"service": service, "kind": kind, "polls": polls, **extra})

    def stop(self):
        _terminate(self.proc)
        self.log.close()


def lambda_env(runtime, endpoint, **overrides):
    """The environment Lambda gives a function (the function's role, JSON logs), pointed at the emulator."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "AWS_LAMBDA_RUNTIME_API": runtime.address,
        "AWS_LAMBDA_FUNCTION_NAME": "ecs-deployer",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/ecs-deployer",
        "AWS_LAMBDA_LOG_STREAM_NAME": "local",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": FUNCTION_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": FUNCTION_SECRET,
        "AWS_SESSION_TOKEN": "function-session-token",
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_LAMBDA_LOG_FORMAT": "JSON",
        "AWS_CONFIG_FILE": "/nonexistent",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
    }
    env.update(overrides)
    return env


def job_data(user_parameters, artifacts, token=None):
    """A job's `data` as CodePipeline sends it: artifacts as (name, key) in the artifact bucket, read with the
    pipeline role's credentials."""
    data = {
        "actionConfiguration": {"configuration": {"FunctionName": "ecs-deployer", "UserParameters": user_parameters}},
        "inputArtifacts": [
            {"name": name, "revision": None, "location": {"type": "S3", "s3Location": {"bucketName": ARTIFACT_BUCKET, "objectKey": key}}}
            for name, key in artifacts
        ],
        "outputArtifacts": [],
        "artifactCredentials": {"accessKeyId": PIPELINE_KEY_ID, "secretAccessKey": PIPELINE_SECRET, "sessionToken": PIPELINE_TOKEN},
    }
    if token is not None:
        data["continuationToken"] = token
    return data


def file_job(emulator, data, job_id=None):
    """Files a job in the emulator (so its results are accepted) and returns its id and invocation event."""
    job_id = job_id or str(uuid.uuid4())
    emulator.admin("POST", "jobs", {"id": job_id, "data": data})
    return job_id, {"CodePipeline.job": {"id": job_id, "accountId": ACCOUNT, "data": copy.deepcopy(data)}}


class FunctionProcess:
    """The release binary under the Runtime API, configured as Lambda would configure it, logging at TRACE."""

    def __init__(self, runtime, endpoint, log_path, extra_env=None, bin_path=None):
        env = lambda_env(runtime, endpoint, RUST_LOG="trace", **(extra_env or {}))
        self.log_path = Path(log_path)
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([str(bin_path or binary())], env=env, stdout=self.log, stderr=subprocess.STDOUT)
        _live.append(self.proc)

    def alive(self):
        return self.proc.poll() is None

    def logs(self):
        self.log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self):
        _terminate(self.proc)
        self.log.close()


class Stack:
    """Emulator + Runtime API + one or more function processes."""

    def __init__(self, log_dir=None, processes=1, extra_env=None):
        self.log_dir = Path(log_dir or tempfile.mkdtemp(prefix="ecs-deployer-"))
        self.emulator = EmulatorProcess(self.log_dir)
        self.runtime = RuntimeApi()
        self.functions = []
        try:
            for i in range(processes):
                self.start_function(extra_env, name=f"function-{i}.log")
            s3 = self.emulator.client("s3")
            s3.create_bucket(Bucket=ARTIFACT_BUCKET)
        except Exception:
            self.close()
            raise

    def start_function(self, extra_env=None, name=None):
        name = name or f"function-{len(self.functions)}.log"
        function = FunctionProcess(self.runtime, self.emulator.url, self.log_dir / name, extra_env)
        self.functions.append(function)
        return function

    def logs(self):
        return "".join(f.logs() for f in self.functions)

    def close(self):
        for f in self.functions:
            f.stop()
        self.runtime.close()
        self.emulator.stop()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def zip_bytes(files, compression=zipfile.ZIP_DEFLATED, comment=b""):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as z:
        for name, content in files.items():
            z.writestr(name, content)
        z.comment = comment
    return buffer.getvalue()


def image_definitions(pairs):
    return json.dumps([{"name": n, "imageUri": u} for n, u in pairs])


class Ecs:
    """Seeding the emulator's ECS: a cluster, a Fargate service and its task definition (in the function's own
    account and region, or, with `role` and `region`, in the role's account and that region)."""

    def __init__(self, emulator, role=None, region=REGION):
        self.emulator = emulator
        self.region = region
        self.client = (lambda service: emulator.assumed_client(service, role, region)) if role else (
            lambda service: emulator.client(service, region=region))
        self.ecs = self.client("ecs")

    def _raw(self, action, body):
        """An ECS call as raw JSON both ways: botocore neither sends nor parses members its model lacks."""
        http = urllib.request.Request(self.emulator.url + "/", data=json.dumps(body).encode(), method="POST", headers={
            "X-Amz-Target": f"AmazonEC2ContainerServiceV20141113.{action}",
            "Content-Type": "application/x-amz-json-1.1",
            # The emulator tells the account by the key id: the seeding client's own (an assumed role's, say).
            "Authorization": f"AWS4-HMAC-SHA256 Credential={self.ecs._request_signer._credentials.get_frozen_credentials().access_key}"
                             f"/20260101/{self.region}/ecs/aws4_request, SignedHeaders=host, Signature=0",
        })
        with urllib.request.urlopen(http, timeout=10) as response:
            return json.loads(response.read())

    def task_definition_raw(self, arn):
        return self._raw("DescribeTaskDefinition", {"taskDefinition": arn})["taskDefinition"]

    def register_raw(self, request, top=None, container=None):
        """RegisterTaskDefinition as raw JSON, with members botocore would not send (`top` into the task
        definition, `container` into its first container): as a newer ECS API would have them."""
        body = dict(request, **(top or {}))
        body["containerDefinitions"] = [dict(body["containerDefinitions"][0], **(container or {}))] + body["containerDefinitions"][1:]
        return self._raw("RegisterTaskDefinition", body)["taskDefinition"]

    def seed(self, cluster, service, containers, scenario="complete", polls=1, desired=2, controller=None, config=None,
             td_extra=None, **scenario_extra):
        """A service on `containers` ([(name, image)]); `config` is its deploymentConfiguration (strategy, bakes,
        hooks, circuit breaker, alarms); `scenario` how its next deployment goes (tests/emulator/deployments.py)."""
        self.ecs.create_cluster(clusterName=cluster)
        request = dict(
            family=service,
            networkMode="awsvpc",
            requiresCompatibilities=["FARGATE"],
            cpu="256",
            memory="512",
            executionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/{service}-execution",
            containerDefinitions=[{"name": n, "image": image, "essential": True, "portMappings": [{"containerPort": 8080}]} for n, image in containers],
            runtimePlatform={"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"},
            ephemeralStorage={"sizeInGiB": 30},
            tags=[{"key": "team", "value": "payments"}],
        )
        if td_extra:
            td = self.register_raw(request, **td_extra)
        else:
            td = self.ecs.register_task_definition(**request)["taskDefinition"]
        self.emulator.scenario(service, scenario, polls, **scenario_extra)
        kwargs = {"deploymentController": {"type": controller}} if controller else {}
        if config:
            kwargs["deploymentConfiguration"] = config
        ec2 = self.client("ec2")
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
        group = ec2.create_security_group(GroupName=f"{service}-tasks", Description="tasks", VpcId=vpc)["GroupId"]
        self.ecs.create_service(
            cluster=cluster, serviceName=service, taskDefinition=td["taskDefinitionArn"], desiredCount=desired, launchType="FARGATE",
            networkConfiguration={"awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [group], "assignPublicIp": "DISABLED"}},
            **kwargs,
        )
        return td

    def task_scenario(self, family, **scenario):
        """How the next beforeDeploy tasks of `family` go (tests/emulator/tasks.py): looks, exit_code, exit_codes,
        start_failure, failures, logs."""
        self.emulator.admin("POST", "task-scenario", dict(scenario, family=family))

    def run_requests(self):
        return self.emulator.admin("GET", "run-requests")["requests"]

    def schedule(self, name, task_definition, group="default", **extra):
        """An EventBridge Scheduler schedule whose target runs `task_definition` in the cluster."""
        scheduler = self.client("scheduler")
        target = {"Arn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/batch", "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/scheduler",
                  "EcsParameters": {"TaskDefinitionArn": task_definition, "TaskCount": 1, "LaunchType": "FARGATE"}}
        target.update(extra.pop("Target", {}))
        scheduler.create_schedule(Name=name, GroupName=group, ScheduleExpression=extra.pop("ScheduleExpression", "cron(0 3 * * ? *)"),
                                  FlexibleTimeWindow=extra.pop("FlexibleTimeWindow", {"Mode": "OFF"}), Target=target, **extra)

    def get_schedule(self, name, group="default"):
        return self.client("scheduler").get_schedule(Name=name, GroupName=group)

    def rule(self, name, targets, bus="default"):
        """An EventBridge rule with ECS targets: [(id, task definition ARN)]."""
        events = self.client("events")
        events.put_rule(Name=name, ScheduleExpression="rate(1 hour)", EventBusName=bus)
        events.put_targets(Rule=name, EventBusName=bus, Targets=[
            {"Id": tid, "Arn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/batch", "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/events",
             "EcsParameters": {"TaskDefinitionArn": td, "TaskCount": 1, "LaunchType": "FARGATE"}} for tid, td in targets])

    def rule_targets(self, name, bus="default"):
        return self.client("events").list_targets_by_rule(Rule=name, EventBusName=bus)["Targets"]

    def service(self, cluster, service):
        return self.ecs.describe_services(cluster=cluster, services=[service])["services"][0]

    def deployments(self, service):
        """The emulator's record of the service's deployments (no look: nothing moves)."""
        return self.emulator.admin("GET", f"service/{service}")["deployments"]

    def revisions(self, family):
        """Every revision of the family, active or deregistered."""
        return [arn for status in ("ACTIVE", "INACTIVE") for arn in
                self.ecs.list_task_definitions(familyPrefix=family, status=status)["taskDefinitionArns"]]

    def task_definition(self, arn):
        return self.ecs.describe_task_definition(taskDefinition=arn, include=["TAGS"])


# A private ECR image (ECR User Guide, "Private registry concepts"): account, region, repository, tag, digest.
ECR_IMAGE = re.compile(r"^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com/([a-z0-9._/-]+?)(?::([\w.-]+))?(?:@(sha256:[0-9a-f]+))?$")


class Registry:
    """Plays the build's ``docker push``: puts images into the emulator's ECR (moto's), each in its own region."""

    def __init__(self, emulator):
        self.emulator = emulator
        self.clients = {}  # (account, region) → ECR client

    def push(self, image):
        match = ECR_IMAGE.match(image)
        if not match:
            return False
        account, region, repository, tag, digest = match.groups()
        if (account, region) not in self.clients:
            # The registry of the image's own account: another account's through a role there (moto's STS).
            self.clients[(account, region)] = self.emulator.client("ecr", region=region) if account == ACCOUNT else \
                self.emulator.assumed_client("ecr", f"arn:aws:iam::{account}:role/registry", region)
        ecr = self.clients[(account, region)]
        try:
            ecr.create_repository(repositoryName=repository)
        except ecr.exceptions.RepositoryAlreadyExistsException:
            pass
        # One manifest per image reference, so that every tag is an image of its own.
        layer = "sha256:" + hashlib.sha256(image.encode()).hexdigest()
        manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                               "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 1, "digest": layer},
                               "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 1, "digest": layer}]})
        pin = {"imageDigest": digest} if digest else {"imageTag": tag or "latest"}
        try:
            ecr.put_image(repositoryName=repository, imageManifest=manifest, **pin)
        except ecr.exceptions.ImageAlreadyExistsException:
            pass
        return True

    def push_referenced(self, archive):
        """Pushes every ECR image that a JSON file in the zip names (the image file, a task definition file)."""
        pushed = []
        with zipfile.ZipFile(io.BytesIO(archive)) as z:
            for name in z.namelist():
                if not name.endswith(".json"):
                    continue
                try:
                    document = json.loads(z.read(name))
                except Exception:  # noqa: BLE001 - the bad-input tests upload broken zips and files on purpose
                    continue
                for text in _strings(document):
                    if text not in pushed and self.push(text):
                        pushed.append(text)
        return pushed


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)


class Pipeline:
    """Plays CodePipeline: files a job, invokes the function (retrying errors as Lambda does for async
    invocations), and follows continuation tokens with new jobs until a final result."""

    def __init__(self, stack, lambda_timeout=30.0):
        self.stack = stack
        self.emulator = stack.emulator
        self.s3 = stack.emulator.client("s3")
        self.registry = Registry(stack.emulator)
        self.lambda_timeout = lambda_timeout

    def upload(self, key, archive, push=True):
        """Uploads a build's artifact, having pushed the ECR images it names first, as a build does (``push=False``:
        a build whose push failed or named another tag). Archives that are not zips are uploaded as they are."""
        if push:
            try:
                self.registry.push_referenced(archive)
            except zipfile.BadZipFile:
                pass  # not a zip (a bad-input test): nothing to push
        self.s3.put_object(Bucket=ARTIFACT_BUCKET, Key=key, Body=archive)
        return key

    def job_data(self, user_parameters, artifacts, token=None):
        return job_data(user_parameters, artifacts, token)

    def file_job(self, data, job_id=None):
        return file_job(self.emulator, data, job_id)

    def invoke(self, event, retries=2, timeout=None):
        """One asynchronous invocation: Lambda retries a function error up to twice."""
        answers = []
        for _ in range(1 + retries):
            kind, body = self.stack.runtime.invoke(event, timeout=timeout or self.lambda_timeout)
            answers.append((kind, body))
            if kind == "response":
                break
        return answers

    def run(self, user_parameters, artifacts=(("BuildOutput", None),), max_jobs=30, token_hook=None, token=None):
        """Runs the action to its end (from the continuation `token` when given, as CodePipeline hands a token to
        the next job). Returns the jobs, each with its id, reports and invocation answers."""
        if isinstance(user_parameters, dict):
            user_parameters = json.dumps(user_parameters)
        artifacts = [(name, key) for name, key in artifacts]
        jobs = []
        for _ in range(max_jobs):
            job_id, event = self.file_job(self.job_data(user_parameters, artifacts, token))
            answers = self.invoke(event)
            job = self.emulator.admin("GET", f"jobs/{job_id}")
            job["answers"] = answers
            jobs.append(job)
            if job["status"] != "Succeeded":
                break
            token = job["reports"][0]["request"].get("continuationToken")
            if token is None:
                break
            if token_hook:
                token = token_hook(token)
        return Run(jobs)


class Run:
    def __init__(self, jobs):
        self.jobs = jobs

    @property
    def final(self):
        return self.jobs[-1]

    @property
    def status(self):
        return self.final["status"]

    @property
    def report(self):
        reports = self.final["reports"]
        return reports[0]["request"] if reports else None

    @property
    def failure(self):
        details = (self.report or {}).get("failureDetails") or {}
        return details.get("type"), details.get("message", "")

    @property
    def variables(self):
        return (self.report or {}).get("outputVariables", {})

    def reports_per_job(self):
        return [len(j["reports"]) for j in self.jobs]

    @property
    def summaries(self):
        """Every job's summary, in order (a failure's message for a failed job)."""
        out = []
        for job in self.jobs:
            request = job["reports"][0]["request"] if job["reports"] else {}
            out.append((request.get("executionDetails") or {}).get("summary") or (request.get("failureDetails") or {}).get("message", ""))
        return out

    def said(self, text):
        """Whether some job's summary (or the failure) says `text`: an action's first job announces what is about to
        change (report first, then change), and later jobs say how it went."""
        return any(text in s for s in self.summaries)

    @property
    def started(self):
        """The summary of the job that found the announced changes made (the first that is not an announcement)."""
        return next((s for s in self.summaries if "the next job finds out how it went" not in s), "")
