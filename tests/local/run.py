"""README's local commands, run for real against the emulator, asserting what the emulator saw (each job got
exactly one report; the deploy moved the service to a new revision; the bad event failed as configuration):

- `sam` (`make sam-local`): `sam local invoke` of the function SAM built, in Docker. Skipped with one line
  when Docker is unusable.
- `cargo-lambda` (`make cargo-lambda-local`): `cargo lambda watch` (a local Runtime API running the debug
  build) and `cargo lambda invoke --data-file events/…`.

How `sam` is wired (facts from ../shared/reference/codepipeline-ecs.md §10):
- SAM builds its invoke image FROM a base image; no registry is reachable here, so `base-image.sh` makes a
  local stand-in for provided.al2023 and SAM gets it with `--invoke-image … --skip-pull-image`.
- SAM 1.170 does not apply `--docker-network host` (it only connects containers to named networks), so the
  function container is on Docker's default bridge, where 127.0.0.1 is the container itself. The emulator
  stays on 127.0.0.1; a forwarder bound to this machine's own docker0 address passes the container's
  requests to it. Nothing leaves this machine.
- `--env-vars` only sets variables the template declares, so the test invokes a copy of the built template
  that declares AWS_ENDPOINT_URL (the deployed template does not: an empty endpoint would be a warning in
  every cold start). The function's credentials come from this process's environment, as SAM passes them.
"""

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import yaml  # noqa: E402

from emulator.harness import (  # noqa: E402
    ACCOUNT, ARTIFACT_BUCKET, FUNCTION_KEY_ID, FUNCTION_SECRET, REGION, ROOT, Ecs, EmulatorProcess, Registry, image_definitions,
    zip_bytes,
)

REPO = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
TAIL = int(os.environ.get("LOCAL_TAIL", "4000"))
# The allow-lists as the template sets them, for the sample events' images and bucket.
FUNCTION_ENV = {"ALLOWED_IMAGES": REPO, "ALLOWED_ARTIFACT_BUCKETS": ARTIFACT_BUCKET}
# The sample events' artifact credentials: fake, but treated as the secrets they stand for.
SECRETS = [json.loads((ROOT / "events/deploy.json").read_text())["CodePipeline.job"]["data"]["artifactCredentials"][k]
           for k in ("secretAccessKey", "sessionToken")]
SKIP = "Docker unavailable: sam local invoke not tested"


def docker_usable():
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def docker0_address():
    """This machine's own IPv4 address on Docker's default bridge (docker0), where containers reach the host."""
    import fcntl
    import struct
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            # SIOCGIFADDR: the interface's address, without depending on iproute2.
            packed = fcntl.ioctl(s.fileno(), 0x8915, struct.pack("256s", b"docker0"))
        except OSError as e:
            sys.exit(f"no IPv4 address on docker0 ({e}): is dockerd running with its default bridge?")
    return socket.inet_ntoa(packed[20:24])


class Forwarder:
    """A TCP forwarder from `bind` (docker0's address) to the emulator on 127.0.0.1."""

    def __init__(self, bind, target_port):
        self.target_port = target_port
        self.server = socket.create_server((bind, 0))
        self.address = f"{bind}:{self.server.getsockname()[1]}"
        self.stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopped:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source, sink):
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self):
        self.stopped = True
        self.server.close()


def local_template(built, out):
    """The built template, with AWS_ENDPOINT_URL declared so that `--env-vars` may set it."""
    template = yaml.safe_load(Path(built).read_text())
    function = template["Resources"]["Deployer"]["Properties"]
    function.setdefault("Environment", {}).setdefault("Variables", {})["AWS_ENDPOINT_URL"] = ""
    # Paths in the built template are relative to it.
    uri = function["CodeUri"]
    function["CodeUri"] = str((Path(built).parent / uri).resolve())
    Path(out).write_text(json.dumps(template))


def credentials_env():
    """The function role's credentials, as both tools pass the invoking shell's to the function."""
    return dict(os.environ, AWS_ACCESS_KEY_ID=FUNCTION_KEY_ID, AWS_SECRET_ACCESS_KEY=FUNCTION_SECRET,
                AWS_SESSION_TOKEN="function-session-token", AWS_DEFAULT_REGION=REGION, AWS_REGION=REGION,
                AWS_CONFIG_FILE="/nonexistent", AWS_SHARED_CREDENTIALS_FILE="/nonexistent", SAM_CLI_TELEMETRY="0")


def run_command(command, what, log):
    shown = " ".join([Path(command[0]).name] + command[1:])
    print("$", shown, flush=True)
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, env=credentials_env(), timeout=600, cwd=ROOT)
    log.write(f"$ {shown}\n{done.stdout}{done.stderr}")
    if os.environ.get("LOCAL_DEBUG"):
        print(done.stdout, done.stderr[-TAIL:])
    if done.returncode != 0 or not done.stdout.strip():
        sys.exit(f"{what} failed ({done.returncode}):\n{done.stdout}\n{done.stderr[-TAIL:]}")
    report = [line for line in done.stderr.splitlines() if line.startswith("REPORT ")]
    print(f"  took {time.monotonic() - started:.1f} s{': ' + report[-1].split(chr(9), 1)[-1] if report else ''}", flush=True)
    for secret in SECRETS:
        assert secret not in done.stdout + done.stderr, f"{what} printed a secret of the event"
    return done.stdout


class Sam:
    """`sam local invoke` in Docker."""

    def __init__(self, args, work, endpoint_port):
        subprocess.run([str(ROOT / "tests/local/base-image.sh"), args.image], check=True)
        self.args = args
        self.forwarder = Forwarder(docker0_address(), endpoint_port)
        self.template = work / "template.json"
        local_template(args.template, self.template)
        self.env_vars = work / "env.json"
        self.env_vars.write_text(json.dumps({"Deployer": dict(FUNCTION_ENV, AWS_ENDPOINT_URL=f"http://{self.forwarder.address}")}))

    def invoke(self, event, log):
        command = [
            self.args.sam, "local", "invoke", "Deployer", "--template", str(self.template), "--event", event,
            "--parameter-overrides", f"Architecture={self.args.arch}",
            "--invoke-image", self.args.image, "--skip-pull-image", "--env-vars", str(self.env_vars),
        ]
        # SAM prints the function's response as the last line of stdout.
        return json.loads(run_command(command, "sam local invoke", log).strip().splitlines()[-1])

    def close(self):
        self.forwarder.close()


class CargoLambda:
    """`cargo lambda watch` in the background, `cargo lambda invoke` per event."""

    def __init__(self, args, work, endpoint_port):
        self.args = args
        # README's port when it is free.
        self.port = 9000 if not port_open(9000) else free_port()
        env_vars = dict(AWS_ENDPOINT_URL=f"http://127.0.0.1:{endpoint_port}", **FUNCTION_ENV)
        command = [args.cargo_lambda, "lambda", "watch", "--invoke-address", "127.0.0.1", "--invoke-port", str(self.port),
                   "--env-var", ",".join(f"{k}={v}" for k, v in env_vars.items())]
        print("$", " ".join([Path(command[0]).name] + command[1:]), "&", flush=True)
        self.log = open(work / "watch.log", "w")
        self.watch = subprocess.Popen(command, cwd=ROOT, env=credentials_env(), stdout=self.log,
                                      stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 120
        while not port_open(self.port):
            if self.watch.poll() is not None or time.monotonic() > deadline:
                self.close()
                sys.exit(f"cargo lambda watch did not start: {(work / 'watch.log').read_text()[-TAIL:]}")
            time.sleep(0.2)

    def invoke(self, event, log):
        command = [self.args.cargo_lambda, "lambda", "invoke", "ecs-deployer", "--invoke-address", "127.0.0.1",
                   "--invoke-port", str(self.port), "--data-file", event, "--output-format", "json"]
        try:
            return json.loads(run_command(command, "cargo lambda invoke", log))
        except SystemExit:
            self.log.flush()
            print(Path(self.log.name).read_text()[-TAIL:])
            raise

    def close(self):
        if self.watch.poll() is None:
            os.killpg(self.watch.pid, signal.SIGTERM)
            try:
                self.watch.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.watch.pid, signal.SIGKILL)
                self.watch.wait()
        self.log.close()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("way", choices=["sam", "cargo-lambda"])
    parser.add_argument("--sam", help="the sam executable")
    parser.add_argument("--cargo-lambda", help="the cargo-lambda executable")
    parser.add_argument("--template", default=str(ROOT / ".build/sam/template.yaml"))
    parser.add_argument("--image", default="ecs-deployer/provided-standin:al2023")
    parser.add_argument("--arch", default="x86_64", help="the Architecture the package was built for (make sam-build)")
    args = parser.parse_args()
    if args.way == "sam" and not docker_usable():
        print(SKIP)
        return
    events = {name: json.loads((ROOT / "events" / name).read_text()) for name in ("deploy.json", "bad-user-parameters.json")}
    work = Path(tempfile.mkdtemp(prefix="local-"))
    emulator = EmulatorProcess(work)
    way = None
    try:
        before, deploy_job, user = prepare(emulator, events)
        port = int(emulator.url.rsplit(":", 1)[1])
        way = Sam(args, work, port) if args.way == "sam" else CargoLambda(args, work, port)
        with open(work / "invocations.log", "w") as log:
            answers = {name: way.invoke(f"events/{name}", log) for name in events}
        check(emulator, events, before, deploy_job, user, answers)
        print(f"{args.way}: passed")
    finally:
        if way:
            way.close()
        emulator.stop()
        shutil.rmtree(work, ignore_errors=True)


def prepare(emulator, events):
    """The sample events' world: the service they name, the artifact they point at, their jobs."""
    ecs = Ecs(emulator)
    deploy_job = events["deploy.json"]["CodePipeline.job"]
    user = json.loads(deploy_job["data"]["actionConfiguration"]["configuration"]["UserParameters"])
    before = ecs.seed(user["cluster"], user["service"], [("web", f"{REPO}/web:1111111")])["taskDefinitionArn"]
    location = deploy_job["data"]["inputArtifacts"][0]["location"]["s3Location"]
    assert location["bucketName"] == ARTIFACT_BUCKET, location
    s3 = emulator.client("s3")
    s3.create_bucket(Bucket=ARTIFACT_BUCKET)
    Registry(emulator).push(f"{REPO}/web:3f2a9c1")  # the build's push, which verifyImages looks up
    s3.put_object(Bucket=ARTIFACT_BUCKET, Key=location["objectKey"],
                  Body=zip_bytes({"imagedefinitions.json": image_definitions([("web", f"{REPO}/web:3f2a9c1")])}))
    for event in events.values():
        job = event["CodePipeline.job"]
        emulator.admin("POST", "jobs", {"id": job["id"], "data": job["data"]})
    return before, deploy_job, user


def check(emulator, events, before, deploy_job, user, answers):
    """What the emulator saw: one report per job, the service on a new revision with the new image."""
    ecs = Ecs(emulator)
    deploy = emulator.admin("GET", f"jobs/{deploy_job['id']}")
    assert len(deploy["reports"]) == 1, deploy["reports"]
    assert deploy["status"] == "Succeeded", deploy
    assert "continuationToken" in deploy["reports"][0]["request"], deploy["reports"][0]
    summary = deploy["reports"][0]["request"]["executionDetails"]["summary"]
    assert f"verified in ECR: {REPO}/web:3f2a9c1 is sha256:" in summary, summary
    assert answers["deploy.json"]["jobId"] == deploy_job["id"] and answers["deploy.json"]["outcome"].startswith("in progress"), answers
    service = ecs.service(user["cluster"], user["service"])
    assert service["taskDefinition"] != before, (service["taskDefinition"], before)
    image = ecs.task_definition(service["taskDefinition"])["taskDefinition"]["containerDefinitions"][0]["image"]
    assert image == f"{REPO}/web:3f2a9c1", image
    print(f"  deploy.json: one report (in progress, continuation token); the service moved to "
          f"{service['taskDefinition'].rsplit('/', 1)[1]} running web:3f2a9c1, the image looked up in ECR first")

    bad_job = events["bad-user-parameters.json"]["CodePipeline.job"]
    bad = emulator.admin("GET", f"jobs/{bad_job['id']}")
    assert len(bad["reports"]) == 1, bad["reports"]
    details = bad["reports"][0]["request"]["failureDetails"]
    assert bad["status"] == "Failed" and details["type"] == "ConfigurationError", bad
    assert answers["bad-user-parameters.json"]["outcome"] == "failed", answers
    print(f"  bad-user-parameters.json: one report, ConfigurationError: {details['message'][:90]}")


if __name__ == "__main__":
    main()
