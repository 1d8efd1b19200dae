"""make demo: the whole deploy on the local emulator, through the real release binary.

1. starts the emulator (moto + CodePipeline jobs + ECS service deployments), a Lambda Runtime API and the function
2. seeds a cluster, a Fargate service and its task definition, and uploads a build artifact
3. runs the function on events/deploy.json, follows its continuations until the rollout completes
4. deploys a bad build: ECS's circuit breaker rolls it back, and the function says why
5. a CANARY deploy of a second service: the summaries walk through its traffic steps and bakes
6. a bad build of that service: a CloudWatch alarm trips during the bake, and the rollback names the alarm
7. deploy → pause → continue: a deploy that stops at a pause hook, an approval, and a continue action
8. one release to three services with "atomic": the worker's build crashes, the other two are rolled back
9. a release with a database migration (beforeDeploy) that succeeds, and its nightly schedule moved along
10. the next release's migration exits 3: its last log lines are shown and nothing is updated
Every process started here is stopped at the end, also on failure or Ctrl-C.
"""

import copy
import json
import sys
import textwrap
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from emulator.harness import ROOT, Ecs, Pipeline, Stack, image_definitions, zip_bytes  # noqa: E402

REPO = "123456789012.dkr.ecr.us-east-1.amazonaws.com/web"


def event(name):
    return json.loads((ROOT / "events" / name).read_text())


def say(text="", indent=0):
    print(textwrap.indent(text, " " * indent), flush=True)


def follow(stack, pipeline, first_event):
    """Invokes the function on a job event and on each continuation job, as CodePipeline does."""
    job = first_event["CodePipeline.job"]
    template = event("continuation.json")["CodePipeline.job"]
    while True:
        stack.emulator.admin("POST", "jobs", {"id": job["id"], "data": job["data"]})
        kind, body = stack.runtime.invoke({"CodePipeline.job": job}, timeout=30)
        result = stack.emulator.admin("GET", f"jobs/{job['id']}")
        report = result["reports"][0]["request"] if result["reports"] else {}
        yield job["id"], result["status"], report
        token = report.get("continuationToken")
        if result["status"] != "Succeeded" or token is None:
            return
        job = copy.deepcopy(template)
        job["id"] = str(uuid.uuid4())
        job["data"] = copy.deepcopy(first_event["CodePipeline.job"]["data"])
        job["data"]["continuationToken"] = token


def show(job_id, status, report):
    if status == "Failed":
        details = report["failureDetails"]
        say(f"job {job_id[:8]}… → FAILED ({details['type']})")
        say(details["message"], 4)
    elif "continuationToken" in report:
        details = report["executionDetails"]
        say(f"job {job_id[:8]}… → in progress, {details.get('percentComplete', 0)}%: {details['summary'].splitlines()[0]}")
    else:
        say(f"job {job_id[:8]}… → SUCCEEDED: {report['executionDetails']['summary'].splitlines()[0]}")
        for key, value in report.get("outputVariables", {}).items():
            say(f"{key} = {value}", 4)


def main():
    with Stack(processes=1) as stack:
        say(f"emulator on {stack.emulator.url}, Lambda Runtime API on {stack.runtime.address}, function {stack.functions[0].proc.args[0]}")
        ecs = Ecs(stack.emulator)
        pipeline = Pipeline(stack)
        deploy = event("deploy.json")
        params = json.loads(deploy["CodePipeline.job"]["data"]["actionConfiguration"]["configuration"]["UserParameters"])
        cluster, service = params["cluster"], params["service"]
        key = deploy["CodePipeline.job"]["data"]["inputArtifacts"][0]["location"]["s3Location"]["objectKey"]

        say("\n== 1. A good build: commit 3f2a9c1")
        ecs.seed(cluster, service, [("web", f"{REPO}:1111111")], scenario="complete", polls=2)
        pipeline.upload(key, zip_bytes({"imagedefinitions.json": image_definitions([("web", f"{REPO}:3f2a9c1")]), "src/app.py": "print('hi')\n"}))
        before = ecs.service(cluster, service)["taskDefinition"]
        say(f"service {service} in cluster {cluster} runs {before.rsplit('/', 1)[1]}")
        results = list(follow(stack, pipeline, deploy))
        for job_id, status, report in results:
            show(job_id, status, report)
        after = ecs.service(cluster, service)["taskDefinition"]
        image = ecs.task_definition(after)["taskDefinition"]["containerDefinitions"][0]["image"]
        say(f"service {service} now runs {after.rsplit('/', 1)[1]} with {image}")
        ok = results[-1][1] == "Succeeded"

        say("\n== 2. A bad build: commit badc0de crashes on start (exit code 1)")
        stack.emulator.scenario(service, "fail", 1, exit_code=1, reason="Error: Cannot find module '/app/server.js'")
        bad_key = key + "-bad"
        pipeline.upload(bad_key, zip_bytes({"imagedefinitions.json": image_definitions([("web", f"{REPO}:badc0de")])}))
        bad = copy.deepcopy(deploy)
        bad["CodePipeline.job"]["id"] = str(uuid.uuid4())
        bad["CodePipeline.job"]["data"]["inputArtifacts"][0]["location"]["s3Location"]["objectKey"] = bad_key
        results = list(follow(stack, pipeline, bad))
        for job_id, status, report in results:
            show(job_id, status, report)
        rolled_back = ecs.service(cluster, service)["taskDefinition"]
        say(f"service {service} is back on {rolled_back.rsplit('/', 1)[1]}")
        ok = ok and results[-1][1] == "Failed" and rolled_back == after

        say("\n== 2b. A typo: the build pushed 3f2a9c1 but its image file says 3f2a9c2 (verifyImages, on by default)")
        typo_key = key + "-typo"
        pipeline.upload(typo_key, zip_bytes({"imagedefinitions.json": image_definitions([("web", f"{REPO}:3f2a9c2")])}), push=False)
        typo = copy.deepcopy(deploy)
        typo["CodePipeline.job"]["id"] = str(uuid.uuid4())
        typo["CodePipeline.job"]["data"]["inputArtifacts"][0]["location"]["s3Location"]["objectKey"] = typo_key
        started = time.monotonic()
        results = list(follow(stack, pipeline, typo))
        took = time.monotonic() - started
        for job_id, status, report in results:
            show(job_id, status, report)
        unchanged = ecs.service(cluster, service)["taskDefinition"] == rolled_back
        say(f"refused in {took * 1000:.0f} ms; nothing was registered and the service still runs {rolled_back.rsplit('/', 1)[1]}")
        ok = ok and results[-1][1] == "Failed" and '"3f2a9c1"' in results[-1][2]["failureDetails"]["message"] and unchanged

        say("\n== 3. A CANARY deploy of service api: 10 % of production traffic for a 30-minute bake, then 100 %")
        say("(the emulator's clock is scripted: 10 minutes pass per look, while the function counts bake time on its own")
        say(" clock, so its 'min left' barely moves here)")
        canary = {"strategy": "CANARY", "bakeTimeInMinutes": 20,
                  "canaryConfiguration": {"canaryPercent": 10.0, "canaryBakeTimeInMinutes": 30},
                  "alarms": {"alarmNames": ["api-5xx-rate", "api-p99-latency"], "enable": True, "rollback": True}}
        ecs.seed(cluster, "api", [("api", f"{REPO}-api:1111111")], config=canary, minutes_per_look=10)
        api = copy.deepcopy(deploy)
        api["CodePipeline.job"]["id"] = str(uuid.uuid4())
        api["CodePipeline.job"]["data"]["actionConfiguration"]["configuration"]["UserParameters"] = json.dumps({"cluster": cluster, "service": "api"})
        api["CodePipeline.job"]["data"]["inputArtifacts"][0]["location"]["s3Location"]["objectKey"] = key + "-api"
        pipeline.upload(key + "-api", zip_bytes({"imagedefinitions.json": image_definitions([("api", f"{REPO}-api:7b1e0d2")])}))
        results = list(follow(stack, pipeline, api))
        for job_id, status, report in results:
            show(job_id, status, report)
        ok = ok and results[-1][1] == "Succeeded" and any("production traffic 10 %" in r.get("executionDetails", {}).get("summary", "") for _, _, r in results)

        say("\n== 4. A bad build of api: commit e5e5e5e answers 5xx, the alarm api-5xx-rate trips during the bake")
        stack.emulator.scenario("api", "alarm", 1, alarm="api-5xx-rate", minutes_per_look=10)
        api_bad = copy.deepcopy(api)
        api_bad["CodePipeline.job"]["id"] = str(uuid.uuid4())
        api_bad["CodePipeline.job"]["data"]["inputArtifacts"][0]["location"]["s3Location"]["objectKey"] = key + "-api-bad"
        pipeline.upload(key + "-api-bad", zip_bytes({"imagedefinitions.json": image_definitions([("api", f"{REPO}-api:e5e5e5e")])}))
        results = list(follow(stack, pipeline, api_bad))
        for job_id, status, report in results:
            show(job_id, status, report)
        ok = ok and results[-1][1] == "Failed" and "\"api-5xx-rate\" went into ALARM" in results[-1][2]["failureDetails"]["message"]

        say("\n== 5. Deploy → pause → continue: service gated stops at a pause hook after test traffic, for an approval")
        gated = dict(canary, lifecycleHooks=[{"targetType": "PAUSE", "lifecycleStages": ["POST_TEST_TRAFFIC_SHIFT"],
                                              "roleArn": "arn:aws:iam::123456789012:role/ecs-hooks",
                                              "timeoutConfiguration": {"timeoutInMinutes": 1440, "action": "ROLLBACK"}}])
        gated.pop("alarms")
        ecs.seed(cluster, "gated", [("app", f"{REPO}-gated:1111111")], config=gated, minutes_per_look=10)
        pipeline.upload(key + "-gated", zip_bytes({"imagedefinitions.json": image_definitions([("app", f"{REPO}-gated:9a8b7c6")])}))
        first = copy.deepcopy(api)
        first["CodePipeline.job"]["id"] = str(uuid.uuid4())
        first["CodePipeline.job"]["data"]["actionConfiguration"]["configuration"]["UserParameters"] = json.dumps(
            {"cluster": cluster, "service": "gated", "wait": "paused"})
        first["CodePipeline.job"]["data"]["inputArtifacts"][0]["location"]["s3Location"]["objectKey"] = key + "-gated"
        say('Deploy action, UserParameters {"cluster": "demo", "service": "gated", "wait": "paused"}:')
        results = list(follow(stack, pipeline, first))
        for job_id, status, report in results:
            show(job_id, status, report)
        variables = results[-1][2].get("outputVariables", {})
        say("Manual approval: approved.")
        cont = copy.deepcopy(first)
        cont["CodePipeline.job"]["id"] = str(uuid.uuid4())
        user = {"action": "continue", "cluster": cluster, "service": "gated",
                "serviceDeploymentArn": variables.get("ServiceDeploymentArn", ""), "hookId": variables.get("HookId", "")}
        cont["CodePipeline.job"]["data"]["actionConfiguration"]["configuration"]["UserParameters"] = json.dumps(user)
        cont["CodePipeline.job"]["data"]["inputArtifacts"] = []
        say('Continue action, UserParameters {"action": "continue", ..., "serviceDeploymentArn": "#{Deploy.ServiceDeploymentArn}", "hookId": "#{Deploy.HookId}"}:')
        results = list(follow(stack, pipeline, cont))
        for job_id, status, report in results:
            show(job_id, status, report)
        ok = ok and "HookId" in variables and results[-1][1] == "Succeeded"

        say("\n== 6. One release, three services, all or nothing: web2, worker and cron ship commit 4d4d4d4 (atomic)")
        trio = {"web2": "web", "worker": "worker", "cron": "worker"}
        for name, container in trio.items():
            ecs.seed(cluster, name, [(container, f"{REPO}-{container}:1111111")],
                     scenario="fail" if name == "worker" else "complete", polls=1, exit_code=137, reason="OutOfMemoryError: Container killed due to memory usage")
        pipeline.upload(key + "-trio", zip_bytes({"imagedefinitions.json": image_definitions(
            [("web", f"{REPO}-web:4d4d4d4"), ("worker", f"{REPO}-worker:4d4d4d4")])}))
        trio_event = copy.deepcopy(api)
        trio_event["CodePipeline.job"]["id"] = str(uuid.uuid4())
        user = {"cluster": cluster, "services": list(trio), "atomic": True}
        trio_event["CodePipeline.job"]["data"]["actionConfiguration"]["configuration"]["UserParameters"] = json.dumps(user)
        trio_event["CodePipeline.job"]["data"]["inputArtifacts"][0]["location"]["s3Location"]["objectKey"] = key + "-trio"
        say(f"UserParameters {json.dumps(user)}")
        results = list(follow(stack, pipeline, trio_event))
        for job_id, status, report in results:
            if status == "Succeeded" and "continuationToken" in report:
                say(f"job {job_id[:8]}… → in progress, {report['executionDetails'].get('percentComplete', 0)}%:")
                say(report["executionDetails"]["summary"], 4)
            else:
                show(job_id, status, report)
        now = {name: ecs.service(cluster, name)["taskDefinition"].rsplit("/", 1)[1] for name in trio}
        say(f"the services run: {now}")
        ok = ok and results[-1][1] == "Failed" and all(rev.endswith(":1") for rev in now.values())

        say("\n== 7. A release with a migration: billing ships commit 5e5e5e5 once ./migrate --up exits 0, and its nightly")
        say("   schedule (EventBridge Scheduler) moves to the new revision with the service")
        logs = {"logConfiguration": {"logDriver": "awslogs", "options": {
            "awslogs-group": "/ecs/billing", "awslogs-region": "us-east-1", "awslogs-stream-prefix": "ecs"}}}
        rolling = {"strategy": "ROLLING", "deploymentCircuitBreaker": {"enable": True, "rollback": True}}
        billing_td = ecs.seed(cluster, "billing", [("billing", f"{REPO}-billing:1111111")], config=rolling, td_extra={"container": logs})
        ecs.schedule("billing-nightly", billing_td["taskDefinitionArn"], Description="the nightly invoice run")
        ecs.task_scenario("billing", looks=2, logs=["applying 0042_add_invoice_index", "done: 1 migration applied"])
        pipeline.upload(key + "-billing", zip_bytes({"imagedefinitions.json": image_definitions([("billing", f"{REPO}-billing:5e5e5e5")])}))
        user = {"cluster": cluster, "service": "billing", "schedules": ["billing-nightly"],
                "beforeDeploy": {"container": "billing", "command": ["./migrate", "--up"], "environment": {"DATABASE_PASSWORD": "s3cr3t-demo-pw"}, "timeoutMinutes": 15}}
        release = copy.deepcopy(api)
        release["CodePipeline.job"]["id"] = str(uuid.uuid4())
        release["CodePipeline.job"]["data"]["actionConfiguration"]["configuration"]["UserParameters"] = json.dumps(user)
        release["CodePipeline.job"]["data"]["inputArtifacts"][0]["location"]["s3Location"]["objectKey"] = key + "-billing"
        say('UserParameters {"cluster": "demo", "service": "billing", "schedules": ["billing-nightly"], "beforeDeploy": {"container": "billing", "command": ["./migrate", "--up"], "environment": {"DATABASE_PASSWORD": …}, "timeoutMinutes": 15}}')
        results = list(follow(stack, pipeline, release))
        for job_id, status, report in results:
            show(job_id, status, report)
        final = results[-1][2].get("executionDetails", {}).get("summary", "")
        for line in final.splitlines():
            if line.startswith("schedule "):
                say(line, 4)
        billing_now = ecs.service(cluster, "billing")["taskDefinition"].rsplit("/", 1)[1]
        nightly_now = ecs.get_schedule("billing-nightly")["Target"]["EcsParameters"]["TaskDefinitionArn"].rsplit("/", 1)[1]
        say(f"billing runs {billing_now}; the schedule billing-nightly runs {nightly_now}")
        ok = ok and results[-1][1] == "Succeeded" and billing_now == nightly_now == "billing:2"

        say("\n== 8. The next release's migration fails (exit code 3): the services stay where they are")
        ecs.task_scenario("billing", looks=1, exit_code=3, logs=[
            "applying 0043_drop_legacy_totals", "ERROR:  column \"total_cents\" of relation \"invoices\" does not exist",
            "migration 0043 failed; rolled back its transaction"])
        pipeline.upload(key + "-billing-2", zip_bytes({"imagedefinitions.json": image_definitions([("billing", f"{REPO}-billing:6f6f6f6")])}))
        failing = copy.deepcopy(release)
        failing["CodePipeline.job"]["id"] = str(uuid.uuid4())
        failing["CodePipeline.job"]["data"]["inputArtifacts"][0]["location"]["s3Location"]["objectKey"] = key + "-billing-2"
        results = list(follow(stack, pipeline, failing))
        for job_id, status, report in results:
            show(job_id, status, report)
        still = ecs.service(cluster, "billing")["taskDefinition"].rsplit("/", 1)[1]
        nightly_still = ecs.get_schedule("billing-nightly")["Target"]["EcsParameters"]["TaskDefinitionArn"].rsplit("/", 1)[1]
        say(f"billing still runs {still}; billing-nightly still runs {nightly_still}")
        message = results[-1][2].get("failureDetails", {}).get("message", "")
        ok = ok and results[-1][1] == "Failed" and "exited with code 3" in message and "total_cents" in message and still == nightly_still == "billing:2"

        leaked = any(s in stack.logs() for s in (deploy["CodePipeline.job"]["data"]["artifactCredentials"]["secretAccessKey"], "s3cr3t-demo-pw"))
        say(f"\nfunction logs (JSON, RUST_LOG=trace): {stack.log_dir}; artifact secret or migration password in logs: {'YES' if leaked else 'no'}")
        if not ok or leaked:
            say("the demo did not go as expected")
            return 1
    say("all processes stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
