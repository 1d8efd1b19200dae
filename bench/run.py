"""make bench: this function against the Python/boto3 peer, measured side by side in one run on the local
emulator, through the Lambda Runtime API. Prints a table and writes BENCHMARKS.md.

Figures are medians of --runs runs: cold init (process start → first Runtime API `next`), a warm no-wait
deploy's wall time (invoke → answer) and AWS calls, a rolling deploy followed to its end (AWS calls in all and
per look), per artifact size: S3 bytes read and the process's peak RSS (VmHWM) after one deploy from a fresh
process (also drawn as bench/artifact-size.png), and under Lambda's CPU share for 128 MB and 512 MB
(bench/cpu_share.py): cold init, a no-wait deploy, billed duration and what 1,000 deploys cost. This round: report
first on and off, and what beforeDeploy, schedules and another account add, by AWS operation.
"""

import argparse
import datetime
import math
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from emulator.harness import (  # noqa: E402
    ARTIFACT_BUCKET, EmulatorProcess, Ecs, Registry, _live, _terminate, file_job, image_definitions, job_data, lambda_env,
)
from emulator.runtime import RuntimeApi  # noqa: E402

from cpu_share import CpuShare, available as cpu_share_unavailable, fraction  # noqa: E402

REPO = "123456789012.dkr.ecr.us-east-1.amazonaws.com/web"
# Lambda's published on-demand duration price for x86_64, first tier (aws.amazon.com/lambda/pricing), in USD.
PRICE_PER_GB_SECOND = 0.0000166667
SHARES_MB = (128, 512)
# Added to every emulator answer when comparing ten services with one: 0 (loopback as is) and a same-region
# AWS round trip, so that concurrent calls overlap as they do against AWS.
LATENCIES_MS = (0, 20)
CHART = ROOT / "bench" / "artifact-size.png"
RUST = ROOT / "target" / "release" / "ecs-deployer"


BASELINE = None  # --baseline: an earlier release's binary, for cold init side by side


def command(kind):
    if kind == "rust":
        return [str(RUST)], None
    if kind == "baseline":
        return [str(BASELINE)], None
    return [sys.executable, "-m", "awslambdaric", "handler.handler"], ROOT / "bench" / "peer"


def spawn(kind, runtime, endpoint, config_file, share=None, memory_mb=128, **extra_env):
    args, cwd = command(kind)
    env = lambda_env(runtime, endpoint, AWS_CONFIG_FILE=str(config_file), PYTHONDONTWRITEBYTECODE="1", PEER_WAITER_DELAY="1",
                     AWS_LAMBDA_FUNCTION_MEMORY_SIZE=str(memory_mb), **extra_env)
    started = time.perf_counter()
    proc = subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            preexec_fn=share.preexec if share else None)
    _live.append(proc)
    return proc, started


def peak_rss_mib(proc):
    for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def wait_for_next(kind, proc, runtime, started):
    """Milliseconds from process start to its first Runtime API `next`."""
    deadline = time.perf_counter() + 60
    while runtime.first_next_at is None:
        if time.perf_counter() > deadline or proc.poll() is not None:
            raise RuntimeError(f"{kind} never asked for an event")
        time.sleep(0.0001)
    return (runtime.first_next_at - started) * 1000


def cold_init(kind, endpoint, config_file):
    runtime = RuntimeApi()
    proc, started = spawn(kind, runtime, endpoint, config_file)
    try:
        return wait_for_next(kind, proc, runtime, started)
    finally:
        _terminate(proc)
        runtime.close()


def under_share(emulator, config_file, share, kind, seed, key):
    """A fresh process in the CPU-share cgroup: its cold init, then a no-wait deploy (ours: the first job and the
    continuation job that finds the change made, on the same process; their durations added)."""
    runtime = RuntimeApi()
    proc, started = spawn(kind, runtime, emulator.url, config_file, share=share, memory_mb=share.memory_mb)
    try:
        init = wait_for_next(kind, proc, runtime, started)
        duration, _, _, _ = deploy(emulator, runtime, seed, key)
        return init, duration
    finally:
        _terminate(proc)
        runtime.close()


def artifact(path, size_mib, tag, registry):
    """A build artifact: imagedefinitions.json first (so that reading it takes its own ranged GET), then a
    source tree of size_mib (incompressible, stored). Its image is pushed to the emulator's ECR first, as a
    build does (our function looks it up: verifyImages is on by default; the peer does not)."""
    registry.push(f"{REPO}:{tag}")
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("imagedefinitions.json", image_definitions([("web", f"{REPO}:{tag}")]), compress_type=zipfile.ZIP_DEFLATED)
        remaining = size_mib << 20
        i = 0
        while remaining > 0:
            chunk = min(remaining, 16 << 20)
            z.writestr(zipfile.ZipInfo(f"src/blob-{i:03}.bin"), os.urandom(chunk), compress_type=zipfile.ZIP_STORED)
            remaining -= chunk
            i += 1
        for j in range(200):
            z.writestr(f"src/module_{j:03}/handler.py", f"def handler():\n    return {j}\n" * 20, compress_type=zipfile.ZIP_DEFLATED)


def run_jobs(emulator, runtime, user_parameters, key, reset=True):
    """One action as CodePipeline runs it: the first job, then a continuation job for each token, invoked at once
    (CodePipeline waits an interval of its own between them, which no figure here includes). Returns the wall time
    of each invocation (ms), the AWS calls of each job by operation, and the last job's result."""
    if reset:
        emulator.admin("POST", "reset-stats")
    token, walls, per_job = None, [], []
    for _ in range(40):
        job_id, event = file_job(emulator, job_data(user_parameters, [("BuildOutput", key)] if key else [], token=token))
        before = emulator.stats()["calls"]
        started = time.perf_counter()
        runtime.invoke(event, timeout=120)
        walls.append((time.perf_counter() - started) * 1000)
        after = emulator.stats()["calls"]
        per_job.append({op: n - before.get(op, 0) for op, n in after.items() if n - before.get(op, 0)})
        result = emulator.admin("GET", f"jobs/{job_id}")
        token = result["reports"][0]["request"].get("continuationToken") if result["reports"] else None
        if result["status"] != "Succeeded" or token is None:
            return walls, per_job, result
    raise RuntimeError("no final answer after 40 jobs")


def deploy(emulator, runtime, ecs_seed, key):
    """A no-wait deploy, every job of it: (wall time of its invocations together, AWS calls in all, S3 bytes,
    jobs)."""
    cluster, service = ecs_seed
    user_parameters = json.dumps({"cluster": cluster, "service": service, "wait": False})
    walls, per_job, result = run_jobs(emulator, runtime, user_parameters, key)
    if result["status"] != "Succeeded":
        raise RuntimeError(f"deploy failed: {result}")
    calls = sum(sum(job.values()) for job in per_job)
    return sum(walls), calls, emulator.stats()["s3_bytes"], len(walls)


def followed(emulator, runtime, ecs_seed, key):
    """A rolling deploy followed to its end: ours with continuation jobs (one look each), the peer waiting in
    its invocation. Returns (AWS calls in all, ECS calls of each in-progress look, ECS calls of the last look,
    the DescribeServices calls)."""
    cluster, service = ecs_seed
    user_parameters = json.dumps({"cluster": cluster, "service": service, "wait": True})
    emulator.admin("POST", "reset-stats")
    total, looks, last, token = 0, [], 0, None
    for _ in range(20):
        job_id, event = file_job(emulator, job_data(user_parameters, [("BuildOutput", key)], token=token))
        before = emulator.stats()["calls"]
        runtime.invoke(event, timeout=120)
        after = emulator.stats()["calls"]
        total += sum(after.values()) - sum(before.values())
        calls = sum(n - before.get(op, 0) for op, n in after.items() if op.startswith("ecs:"))
        result = emulator.admin("GET", f"jobs/{job_id}")
        if result["status"] != "Succeeded":
            raise RuntimeError(f"deploy failed: {result}")
        next_token = result["reports"][0]["request"].get("continuationToken")
        if token is not None and next_token is not None:
            looks.append(calls)
        if next_token is None:
            last = calls
            break
        token = next_token
    polls = emulator.stats()["calls"].get("ecs:DescribeServices", 0)
    return total, looks, last, polls


def several(emulator, s3, ecs, registry, work, config_file, runs):
    """Ten services released by one action against one: no-wait wall time (same process, alternating), on
    loopback as is and with a round trip added to every emulator answer; then the AWS calls of each
    continuation look while ten are followed."""
    services = [f"many-{i}" for i in range(10)]
    for service in services:
        ecs.seed("bench-many", service, [("web", f"{REPO}:0000000")], looks=3)
    ecs.seed("bench-many", "one", [("web", f"{REPO}:0000000")])
    runtime = RuntimeApi()
    proc, _ = spawn("rust", runtime, emulator.url, config_file)
    walls = {}
    try:
        for latency in LATENCIES_MS:
            for service in ("ecs", "ecr", "s3", "codepipeline"):
                if latency:
                    emulator.fault(f"{service}:*", "delay", times=-1, seconds=latency / 1000)
            walls[latency] = {"one": [], "ten": []}
            for i in range(runs + 1):
                for kind, user in (("one", {"cluster": "bench-many", "service": "one", "wait": False}),
                                   ("ten", {"cluster": "bench-many", "services": services, "wait": False})):
                    path = work / "many.zip"
                    artifact(path, 1, f"m{latency}{kind}{i:04d}", registry)
                    key = f"bench/many-{latency}-{kind}-{i}"
                    s3.upload_file(str(path), ARTIFACT_BUCKET, key)
                    jobs_walls, _, result = run_jobs(emulator, runtime, json.dumps(user), key, reset=False)
                    if result["status"] != "Succeeded":
                        raise RuntimeError(f"{kind} deploy failed")
                    if i:
                        walls[latency][kind].append(sum(jobs_walls))
            emulator.admin("DELETE", "faults")
            print(f"  +{latency} ms per call: one service {median(walls[latency]['one']):.1f} ms, "
                  f"ten {median(walls[latency]['ten']):.1f} ms", flush=True)
        # Followed: every AWS call of each continuation job while the ten are in progress.
        user = json.dumps({"cluster": "bench-many", "services": services})
        path = work / "many.zip"
        artifact(path, 1, "mfollow", registry)
        s3.upload_file(str(path), ARTIFACT_BUCKET, "bench/many-follow")
        token, looks = None, []
        for _ in range(20):
            job_id, event = file_job(emulator, job_data(user, [("BuildOutput", "bench/many-follow")], token=token))
            before = sum(emulator.stats()["calls"].values())
            runtime.invoke(event, timeout=120)
            calls = sum(emulator.stats()["calls"].values()) - before
            result = emulator.admin("GET", f"jobs/{job_id}")
            if result["status"] != "Succeeded":
                raise RuntimeError(f"followed deploy failed: {result}")
            next_token = result["reports"][0]["request"].get("continuationToken")
            if token is not None:
                looks.append(calls)
            if next_token is None:
                break
            token = next_token
    finally:
        emulator.admin("DELETE", "faults")
        _terminate(proc)
        runtime.close()
    print(f"  looks {looks}", flush=True)
    return {"walls": {ms: {k: median(v) for k, v in w.items()} for ms, w in walls.items()}, "looks": looks}


def report_first_off(emulator, s3, ecs, registry, work, config_file, runs):
    """Warm no-wait deploys with the protocol on (the default) and off, two processes, alternating, each on a
    service of its own: jobs, AWS calls in all, and the wall time of the invocations together."""
    procs, measured = {}, {}
    try:
        for mode, env in (("on", {}), ("off", {"REPORT_BEFORE_CHANGE": "off"})):
            ecs.seed("bench-protocol", f"web-{mode}", [("web", f"{REPO}:0000000")])
            runtime = RuntimeApi()
            proc, _ = spawn("rust", runtime, emulator.url, config_file, **env)
            procs[mode] = (proc, runtime)
            measured[mode] = {"walls": [], "calls": [], "jobs": []}
        for i in range(runs + 1):
            for mode, (proc, runtime) in procs.items():
                path = work / "protocol.zip"
                artifact(path, 1, f"p{mode}{i:05d}", registry)
                s3.upload_file(str(path), ARTIFACT_BUCKET, f"bench/protocol-{mode}-{i}")
                wall, n, _, j = deploy(emulator, runtime, ("bench-protocol", f"web-{mode}"), f"bench/protocol-{mode}-{i}")
                if i:  # the first deploy is the cold one
                    measured[mode]["walls"].append(wall)
                    measured[mode]["calls"].append(n)
                    measured[mode]["jobs"].append(j)
    finally:
        for proc, runtime in procs.values():
            _terminate(proc)
            runtime.close()
    out = {mode: {"warm_ms": median(m["walls"]), "calls": median(m["calls"]), "jobs": median(m["jobs"])} for mode, m in measured.items()}
    print(f"  {out}", flush=True)
    return out


PROD = "arn:aws:iam::210987654321:role/ecs-deployer-target"
LOGS = {"logConfiguration": {"logDriver": "awslogs", "options": {
    "awslogs-group": "/ecs/bench", "awslogs-region": "us-east-1", "awslogs-stream-prefix": "ecs"}}}


def total(per_job):
    """Calls by operation over every job."""
    out = {}
    for job in per_job:
        for op, n in job.items():
            out[op] = out.get(op, 0) + n
    return out


def added(feature, plain):
    """The calls by operation that a feature's action made beyond the same action without it."""
    a, b = total(feature), total(plain)
    return {op: a.get(op, 0) - b.get(op, 0) for op in sorted(set(a) | set(b)) if a.get(op, 0) != b.get(op, 0)}


def round_features(emulator, s3, ecs, registry, work, config_file):
    """What beforeDeploy, schedules and a target in another account add to an action, by AWS operation: each
    action against the same action without the feature, on services seeded alike (ROLLING, one look in
    progress), one warm process. Counted, not timed."""
    runtime = RuntimeApi()
    proc, _ = spawn("rust", runtime, emulator.url, config_file)
    out = {}
    rolling = {"strategy": "ROLLING", "deploymentCircuitBreaker": {"enable": True, "rollback": True}}

    def release(name, target=ecs, looks=2, **user):
        target.seed("bench-round", name, [("web", f"{REPO}:0000000")], config=rolling, looks=looks, td_extra={"container": LOGS})
        path = work / "round.zip"
        artifact(path, 1, f"r{len(out)}{name[-6:]}", registry)
        key = f"bench/round-{name}"
        s3.upload_file(str(path), ARTIFACT_BUCKET, key)
        return run_jobs(emulator, runtime, json.dumps(dict({"cluster": "bench-round", "service": name}, **user)), key)

    try:
        _, plain, _ = release("plain")
        path = work / "round.zip"
        artifact(path, 1, "rplain2", registry)
        s3.upload_file(str(path), ARTIFACT_BUCKET, "bench/round-plain-again")
        _, plain_nowait, _ = release("plain-nowait", wait=False)
        # beforeDeploy: a task followed for two looks, then the deploy as above.
        ecs.task_scenario("before", looks=2)
        _, before, result = release("before", beforeDeploy={"command": ["./migrate"]})
        task_looks = sum(1 for job in before if job.get("ecs:DescribeTasks"))
        out["before"] = {"added": added(before, plain), "task_looks": task_looks, "ok": result["status"]}
        ecs.task_scenario("before-fail", looks=1, exit_code=3, logs=["migration failed"])
        _, failed, result = release("before-fail", beforeDeploy={"command": ["./migrate"]})
        out["before_fail"] = {"GetLogEvents": total(failed).get("logs:GetLogEvents", 0), "RunTask": total(failed).get("ecs:RunTask", 0),
                              "UpdateService": total(failed).get("ecs:UpdateService", 0), "status": result["status"]}
        # schedules: two, on the family the action moves.
        family_arn = ecs.seed("bench-round", "sched", [("web", f"{REPO}:0000000")], config=rolling, looks=2, td_extra={"container": LOGS})["taskDefinitionArn"]
        for name in ("sched-nightly", "sched-hourly"):
            ecs.schedule(name, family_arn)
        path = work / "round.zip"
        artifact(path, 1, "rsched", registry)
        s3.upload_file(str(path), ARTIFACT_BUCKET, "bench/round-sched")
        _, sched, result = run_jobs(emulator, runtime, json.dumps({"cluster": "bench-round", "service": "sched", "schedules": ["sched-nightly", "sched-hourly"]}), "bench/round-sched")
        out["schedules"] = {"added": added(sched, plain), "count": 2, "ok": result["status"]}
        # Another account: the same no-wait deploy and followed deploy, with roleArn.
        target = Ecs(emulator, role=PROD)
        _, cross_nowait, r1 = release("cross-nowait", target=target, wait=False, roleArn=PROD)
        _, cross, r2 = release("cross", target=target, roleArn=PROD)
        out["cross"] = {
            "nowait_sts": [job.get("sts:AssumeRole", 0) for job in cross_nowait],
            "nowait_added": added(cross_nowait, plain_nowait),
            "looks_sts": [job.get("sts:AssumeRole", 0) for job in cross[1:]],
            "looks_other": [sum(n for op, n in job.items() if op != "sts:AssumeRole") for job in cross[1:]],
            "plain_looks": [sum(job.values()) for job in plain[1:]],
            "ok": (r1["status"], r2["status"]),
        }
        # keepRevisions: the account-wide look at what runs, with 24 other services in 4 clusters.
        for c in range(4):
            for i in range(6):
                ecs.seed(f"bench-other-{c}", f"other-{c}-{i}", [("web", f"{REPO}:0000000")])
        keep_arn = ecs.seed("bench-round", "keep", [("web", f"{REPO}:0000000")], config=rolling, looks=2, td_extra={"container": LOGS})
        for i in range(6):  # older revisions of the family to clean up
            ecs.ecs.register_task_definition(**{k: v for k, v in ecs.task_definition(keep_arn["taskDefinitionArn"])["taskDefinition"].items()
                                                 if k in ("family", "containerDefinitions", "networkMode", "requiresCompatibilities", "cpu", "memory", "executionRoleArn")})
        path = work / "round.zip"
        artifact(path, 1, "rkeep", registry)
        s3.upload_file(str(path), ARTIFACT_BUCKET, "bench/round-keep")
        clusters = len(ecs.ecs.list_clusters()["clusterArns"])
        services = sum(len(ecs.ecs.list_services(cluster=c, maxResults=100)["serviceArns"]) for c in ecs.ecs.list_clusters()["clusterArns"])
        keep_walls, keep, result = run_jobs(emulator, runtime, json.dumps({"cluster": "bench-round", "service": "keep", "keepRevisions": 2}), "bench/round-keep")
        plain_walls, _, _ = run_jobs(emulator, runtime, json.dumps({"cluster": "bench-round", "service": "plain"}), "bench/round-plain-again")
        out["keep"] = {"added": added(keep, plain), "clusters": clusters, "services": services, "ok": result["status"],
                       "final_ms": keep_walls[-1], "plain_final_ms": plain_walls[-1]}
        out["plain"] = {"jobs": len(plain), "calls": sum(total(plain).values())}
    finally:
        _terminate(proc)
        runtime.close()
    print(f"  {json.dumps(out)}", flush=True)
    return out


def round_section(r, runs):
    on, rf = r["rust_off"]["on"], r["rust_off"]["off"]
    rd = r["round"]
    fmt = lambda d: ", ".join(f"{op} {n:+d}" for op, n in d.items()) or "nothing"
    rows = [
        ("report first, then change (default)", f"{on['jobs']:.0f}", f"{on['calls']:.0f}", f"{on['warm_ms']:.1f} ms"),
        ("`REPORT_BEFORE_CHANGE=off`", f"{rf['jobs']:.0f}", f"{rf['calls']:.0f}", f"{rf['warm_ms']:.1f} ms"),
    ]
    proto = ["| warm no-wait deploy | jobs | AWS calls, all jobs | wall time of the invocations |", "|---|---|---|---|"]
    proto += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    b, bf, sc, x, k = rd["before"], rd["before_fail"], rd["schedules"], rd["cross"], rd["keep"]
    return f"""## This round: report first, beforeDeploy, schedules, other accounts

**Report first, then change.** A no-wait deploy reports progress first and changes only once CodePipeline has
taken that report; the next job finds the change made and reports success. Two warm processes, one with the
protocol and one without, alternating, each deploying a new image to a service of its own; medians of {runs} runs:

{chr(10).join(proto)}

The added latency is one CodePipeline re-invocation interval, which the emulator does not model (its pipeline
invokes the continuation job at once, so the figures above leave the interval out): against AWS, the no-wait
deploy's answer comes one such interval later than with the protocol off. The invocations themselves take less
time with the protocol: without it, the one job looks for a revision it registered already before and after
registering (two ListTaskDefinitions, which the emulator answers by scanning every revision it holds, more of
them as the run goes on), so that two deliveries at the same moment keep one; with it, a duplicate delivery
loses at the report and those two calls go, a report and the look of the next job take their place.

**What each feature adds**, by AWS operation, against the same action on a service seeded alike (one warm
process; counted, not timed):

| feature | added calls (all jobs of the action) | |
|---|---|---|
| `beforeDeploy` (task followed for {b['task_looks']} looks) | {fmt(b['added'])} | one RunTask; one DescribeTasks per look at the task, each look a job of its own with its report; ListTasks (running, then stopped, by the job's `startedBy`) and ListTaskDefinitions: the job after each announcement finds the task and the revision the announced change made |
| `beforeDeploy`, exit code 3 | RunTask {bf['RunTask']}, GetLogEvents {bf['GetLogEvents']}, UpdateService {bf['UpdateService']} | the failure reads the log once; nothing is updated |
| `schedules` (2 schedules) | {fmt(sc['added'])} | per schedule: GetSchedule at the start (a missing name is refused before any change), GetSchedule + UpdateSchedule for the move once the services succeeded (the whole schedule read fresh, as UpdateSchedule replaces it), and a GetSchedule by the next job to find the move made; the announced move takes one job more (its report, and that job's look) |
| `keepRevisions: 2` ({k['clusters']} clusters, {k['services']} services in the account and region) | {fmt(k['added'])} | the final job looks at what every service runs (ListClusters, ListServices per cluster, DescribeServices per 10 services; at most 2,000 services, beyond which nothing is deregistered) and deregisters the rest; that job took {k['final_ms']:.0f} ms against {k['plain_final_ms']:.0f} ms without it |
| another account (`roleArn`), no-wait deploy | {fmt(x['nowait_added'])} | AssumeRole per job: {x['nowait_sts']} |
| another account, each continuation look | AssumeRole per look: {x['looks_sts']} | other calls per look: {x['looks_other']}, as in the own account: {x['plain_looks']} |

{baseline_line(r)}
"""


def baseline_line(r):
    if "baseline" not in r:
        return "Cold init is the first table's (run `make bench BENCH_ARGS=\"--baseline <binary>\"` to measure an earlier release beside it)."
    b = r["baseline"]
    return (f"**Cold init against {b['name']}**, alternating in the same run ({r['rust']['cold_ms']:.1f} ms here, "
            f"{b['cold_ms']:.1f} ms there): nothing is assumed or built for other accounts, and no client loads the root "
            "certificates, before a job needs them.")


def timed_range_get(s3, key):
    """The emulator's own time to answer one 128 KiB suffix-range GET of an object (moto reads the object
    from its store to slice it, so this grows with the object)."""
    started = time.perf_counter()
    s3.get_object(Bucket=ARTIFACT_BUCKET, Key=key, Range="bytes=-131072")["Body"].read()
    return (time.perf_counter() - started) * 1000


def median(values):
    return statistics.median(values)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--sizes", default="1,100,250,500", help="artifact sizes in MiB")
    parser.add_argument("--output", default=str(ROOT / "BENCHMARKS.md"))
    parser.add_argument("--baseline", help="an earlier release's binary: its cold init is measured beside ours")
    parser.add_argument("--baseline-name", default="the previous release", help="what --baseline is, for the report")
    args = parser.parse_args()
    global BASELINE
    BASELINE = args.baseline
    sizes = [int(s) for s in args.sizes.split(",")]
    work = Path(tempfile.mkdtemp(prefix="bench-"))
    config_file = work / "aws-config"
    config_file.write_text("[default]\ns3 =\n    addressing_style = path\n")
    emulator = EmulatorProcess(work)
    results = {"rust": {}, "python": {}, "emulator": {}}
    try:
        s3 = emulator.client("s3")
        s3.create_bucket(Bucket=ARTIFACT_BUCKET)
        ecs = Ecs(emulator)
        registry = Registry(emulator)
        print(f"cold init: {args.runs} runs each, alternating", flush=True)
        colds = {"rust": [], "python": []} | ({"baseline": []} if BASELINE else {})
        for _ in range(args.runs):
            for kind in colds:
                colds[kind].append(cold_init(kind, emulator.url, config_file))
        for kind in colds:
            results.setdefault(kind, {})["cold_ms"] = median(colds[kind])
        if BASELINE:
            results["baseline"]["name"] = args.baseline_name

        print("warm deploys and artifact sizes", flush=True)
        # Every deploy brings a new image (as every merge does), so both implementations do the whole job.
        for kind in ("rust", "python"):
            for i in range(args.runs + 1):
                small = work / "small.zip"
                artifact(small, 1, f"{kind[:2]}{i:05d}", registry)
                s3.upload_file(str(small), ARTIFACT_BUCKET, f"bench/small-{kind}-{i}")
        for kind in ("rust", "python"):
            cluster, service = f"bench-{kind}", f"web-{kind}"
            ecs.seed(cluster, service, [("web", f"{REPO}:0000000")])
            runtime = RuntimeApi()
            proc, _ = spawn(kind, runtime, emulator.url, config_file)
            try:
                walls, calls, jobs = [], [], []
                for i in range(args.runs + 1):
                    wall, n, _, j = deploy(emulator, runtime, (cluster, service), f"bench/small-{kind}-{i}")
                    if i:  # the first deploy is the cold one
                        walls.append(wall)
                        calls.append(n)
                        jobs.append(j)
                results[kind]["warm_ms"] = median(walls)
                results[kind]["calls"] = median(calls)
                results[kind]["jobs"] = median(jobs)
            finally:
                _terminate(proc)
                runtime.close()
        print("report first, then change, switched off (REPORT_BEFORE_CHANGE=off)", flush=True)
        results["rust_off"] = report_first_off(emulator, s3, ecs, registry, work, config_file, args.runs)
        print("this round's features: what each adds", flush=True)
        results["round"] = round_features(emulator, s3, ecs, registry, work, config_file)
        print("a rolling deploy followed to its end (3 scale-up steps)", flush=True)
        for kind in ("rust", "python"):
            cluster, service = f"bench-{kind}", f"follow-{kind}"
            ecs.seed(cluster, service, [("web", f"{REPO}:0000000")], looks=3,
                     config={"strategy": "ROLLING", "deploymentCircuitBreaker": {"enable": True, "rollback": True}})
            key = f"bench/small-{kind}-0"
            runtime = RuntimeApi()
            proc, _ = spawn(kind, runtime, emulator.url, config_file)
            try:
                total, looks, last, polls = followed(emulator, runtime, (cluster, service), key)
            finally:
                _terminate(proc)
                runtime.close()
            results[kind].update(follow_total=total, follow_looks=looks, follow_last=last, follow_polls=polls)
            print(f"  {kind}: {total} AWS calls, looks {looks}, last {last}", flush=True)
        for size in sizes:
            repeats = max(3, args.runs // 5)
            for r in range(repeats):  # a new image per deploy, as above
                path = work / f"artifact-{size}.zip"
                artifact(path, size, f"{size:04d}{r:03d}", registry)
                s3.upload_file(str(path), ARTIFACT_BUCKET, f"bench/{size}-{r}")
                path.unlink()
            results["emulator"][f"range_{size}"] = median(timed_range_get(s3, f"bench/{size}-0") for _ in range(5))
            for kind in ("rust", "python"):
                cluster, service = f"bench-{kind}", f"web-{kind}"
                rss, s3_bytes, walls = [], [], []
                for r in range(repeats):
                    runtime = RuntimeApi()
                    proc, _ = spawn(kind, runtime, emulator.url, config_file)
                    try:
                        wall, _, read, _ = deploy(emulator, runtime, (cluster, service), f"bench/{size}-{r}")
                        rss.append(peak_rss_mib(proc))
                        s3_bytes.append(read)
                        walls.append(wall)
                    finally:
                        _terminate(proc)
                        runtime.close()
                results[kind][f"rss_{size}"] = median(rss)
                results[kind][f"s3_{size}"] = median(s3_bytes)
                results[kind][f"wall_{size}"] = median(walls)
                print(f"  {size} MiB {kind}: {median(s3_bytes) / 1024:.0f} KiB read, {median(rss):.1f} MiB peak RSS", flush=True)
            for r in range(repeats):
                s3.delete_object(Bucket=ARTIFACT_BUCKET, Key=f"bench/{size}-{r}")
        print("ten services released by one action", flush=True)
        results["several"] = several(emulator, s3, ecs, registry, work, config_file, args.runs)
        results["shares"] = lambda_shares(emulator, s3, ecs, registry, config_file, work, max(5, args.runs // 3))
    finally:
        emulator.stop()
    draw_chart(results, sizes)
    report = render(results, sizes, args.runs)
    print(report)
    Path(args.output).write_text(report)
    return 0


def lambda_shares(emulator, s3, ecs, registry, config_file, work, runs):
    """Cold init, first invocation and billed duration under Lambda's CPU share for each of SHARES_MB."""
    why_not = cpu_share_unavailable()
    if why_not:
        print(f"Lambda CPU shares: not measured ({why_not})", flush=True)
        return {"skipped": why_not}
    shares = {}
    for memory_mb in SHARES_MB:
        with CpuShare(memory_mb) as share:
            print(f"under {memory_mb} MB of Lambda CPU ({fraction(memory_mb):.1%} of a core: {share.how}), {runs} runs each", flush=True)
            measured = {"how": share.how}
            for kind in ("rust", "python"):
                cluster, service = f"share-{memory_mb}", f"{kind}-{memory_mb}"
                ecs.seed(cluster, service, [("web", f"{REPO}:0000000")])
                inits, durations, billed = [], [], []
                for i in range(runs):
                    path = work / "share.zip"
                    artifact(path, 1, f"s{memory_mb}{kind[:1]}{i:03d}", registry)
                    key = f"bench/share-{memory_mb}-{kind}-{i}"
                    s3.upload_file(str(path), ARTIFACT_BUCKET, key)
                    init, duration = under_share(emulator, config_file, share, kind, (cluster, service), key)
                    inits.append(init)
                    durations.append(duration)
                    # Lambda bills init and invocation together, rounded up to the millisecond.
                    billed.append(math.ceil(init + duration))
                cost = 1000 * median(billed) / 1000 * memory_mb / 1024 * PRICE_PER_GB_SECOND
                measured[kind] = {"init": median(inits), "duration": median(durations), "billed": median(billed), "cost": cost}
                print(f"  {kind}: init {median(inits):.0f} ms, first invocation {median(durations):.0f} ms, "
                      f"billed {median(billed):.0f} ms, 1000 deploys ${cost:.4f}", flush=True)
            shares[memory_mb] = measured
    return shares


def draw_chart(results, sizes):
    """S3 bytes read and peak RSS against artifact size, both functions: bench/artifact-size.png."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), dpi=110)
    series = (("rust", "this function (Rust)", "#d95f02", "o"), ("python", "Python/boto3 peer", "#1b9e77", "s"))
    for ax, (key, title, unit) in zip(axes, (("s3", "S3 bytes read per deploy", 1 << 20), ("rss", "peak RSS of the function", 1))):
        for kind, label, colour, marker in series:
            values = [results[kind][f"{key}_{size}"] / unit for size in sizes]
            ax.plot(sizes, values, marker=marker, color=colour, label=label, linewidth=2)
            shown = f"{values[-1]:.1f} MiB" if values[-1] >= 1 else f"{values[-1] * 1024:.0f} KiB"
            ax.annotate(shown, (sizes[-1], values[-1]), textcoords="offset points", xytext=(-10, 8),
                        ha="right", color=colour, fontsize=9)
        ax.set_title(title)
        ax.set_xlabel("artifact size (MiB)")
        ax.set_ylabel("MiB")
        ax.grid(True, alpha=0.3)
        ax.set_ylim(bottom=0)
    axes[1].set_ylim(0, max(140, *(results[k][f"rss_{size}"] for k in ("rust", "python") for size in sizes)) * 1.12)
    axes[1].axhline(128, color="grey", linestyle="--", linewidth=1)
    axes[1].annotate("128 MB function", (sizes[0], 128), textcoords="offset points", xytext=(2, 4), color="grey", fontsize=9)
    axes[0].legend(loc="upper left")
    fig.suptitle(f"One no-wait deploy from a fresh process, by artifact size (make bench, {datetime.date.today().isoformat()})", fontsize=10)
    fig.tight_layout()
    fig.savefig(CHART)
    plt.close(fig)
    print(f"wrote {CHART.relative_to(ROOT)}", flush=True)


def share_table(shares):
    if "skipped" in shares:
        return f"Not measured on this run ({shares['skipped']}): the CPU-share cgroup needs root and a cgroup CPU controller."
    rows = ["| memory (CPU share) | measure | this function (Rust) | Python/boto3 peer | |", "|---|---|---|---|---|"]
    for memory_mb, m in shares.items():
        rust, py = m["rust"], m["python"]
        share = f"{memory_mb} MB ({fraction(memory_mb):.1%} of a core)"
        rows += [
            f"| {share} | cold init (process start → first `next`) | {rust['init']:.0f} ms | {py['init']:.0f} ms | {py['init'] / rust['init']:.0f}× |",
            f"| {share} | no-wait deploy (ours: both its jobs) | {rust['duration']:.0f} ms | {py['duration']:.0f} ms | {py['duration'] / rust['duration']:.1f}× |",
            f"| {share} | billed duration (init + invocation, 1 ms rounding) | {rust['billed']:.0f} ms | {py['billed']:.0f} ms | |",
            f"| {share} | 1,000 such deploys, duration cost | ${rust['cost']:.5f} | ${py['cost']:.5f} | {py['cost'] / rust['cost']:.0f}× |",
        ]
    how = "; ".join(f"{mb} MB: {m['how']}" for mb, m in shares.items())
    return "\n".join(rows) + f"\n\nQuotas: {how}."


def package_size():
    """The release binary, and its zip as Lambda's `bootstrap` (the deployment package)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.write(RUST, "bootstrap")
    return RUST.stat().st_size, len(buffer.getvalue())


def machine():
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")), platform.processor())
    memory = next((int(line.split()[1]) // (1024 * 1024) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")), 0)
    return f"{platform.machine()}, {os.cpu_count()} cores ({cpu}), {memory} GiB, Linux {platform.release()}, Python {platform.python_version()}"


def render(r, sizes, runs):
    binary, zipped = package_size()
    rust, py = r["rust"], r["python"]
    rows = [
        ("cold init (process start → first `next`)", f"{rust['cold_ms']:.1f} ms", f"{py['cold_ms']:.1f} ms", f"{py['cold_ms'] / rust['cold_ms']:.0f}× faster"),
        ("warm no-wait deploy, wall time (ours: both jobs' invocations)", f"{rust['warm_ms']:.1f} ms", f"{py['warm_ms']:.1f} ms", f"{py['warm_ms'] / rust['warm_ms']:.1f}× faster"),
        ("warm no-wait deploy, AWS calls", f"{rust['calls']:.0f} in {rust['jobs']:.0f} jobs", f"{py['calls']:.0f} in {py['jobs']:.0f} job",
         "ours: reports first and changes only once CodePipeline took the report (two reports); 1 ECR DescribeImages looks the new image up first (verifyImages)"),
        ("rolling deploy followed to its end (3 scale-up steps): AWS calls in all", f"{rust['follow_total']}", f"{py['follow_total']}",
         "ours: deploy job + one job per look; the peer waits inside one invocation (services-stable waiter)"),
        ("ECS calls per look while the deployment is in progress", f"{median(rust['follow_looks']):.0f} (DescribeServiceDeployments)",
         "1 (DescribeServices)", f"ours looked {len(rust['follow_looks'])} times in progress, ECS calls {rust['follow_looks']} (the first look after the announced update also finds it made); the peer polled DescribeServices {py['follow_polls']} times"),
        ("ECS calls of the final look", f"{rust['follow_last']}", "", "ours: the look (DescribeServiceDeployments) and DescribeServiceRevisions (the digests)"),
    ]
    for size in sizes:
        rows.append((f"{size} MiB artifact: S3 bytes read", f"{rust[f's3_{size}'] / 1024:.0f} KiB", f"{py[f's3_{size}'] / 1024:.0f} KiB", ""))
        rows.append((f"{size} MiB artifact: peak RSS", f"{rust[f'rss_{size}']:.1f} MiB", f"{py[f'rss_{size}']:.1f} MiB", ""))
        rows.append((f"{size} MiB artifact: cold deploy wall time", f"{rust[f'wall_{size}']:.0f} ms", f"{py[f'wall_{size}']:.0f} ms",
                     f"(the emulator alone takes {r['emulator'][f'range_{size}']:.0f} ms per ranged GET)"))
    table = ["| measure | this function (Rust) | Python/boto3 peer | |", "|---|---|---|---|"]
    table += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    return f"""# Benchmarks

Measured by `make bench` ({Path(__file__).relative_to(ROOT)}) on {datetime.date.today().isoformat()}, on {machine()}.
Both implementations ran in the same run against the same local emulator (moto + this repository's
extensions, on 127.0.0.1) through a Lambda Runtime API on loopback; each figure is a median ({runs} runs for
cold init and warm deploys; per artifact size, one deploy from a fresh process, repeated {max(3, runs // 5)} times).
The peer is `bench/peer/handler.py`: ours, written to the AWS-sample style (boto3, `awslambdaric`); it waits
with boto3's services-stable waiter (1 s apart here) as aws-actions/amazon-ecs-deploy-task-definition does.

{chr(10).join(table)}

![S3 bytes read and peak RSS against artifact size](bench/artifact-size.png)

{round_section(r, runs)}
## Several services in one action (`services`)

This function alone (the peer deploys one service per action). One warm process, alternating: a no-wait
release of a new image to one service, and to ten services (`services`, all in one cluster), each with both
its jobs (report first, then the job that finds the changes made), first on
loopback as is, then with {LATENCIES_MS[1]} ms added to every emulator answer (a same-region round trip; the emulator's
`delay` fault on every ECS, ECR, S3 and CodePipeline call, served by its threads in parallel). Medians of {runs}
runs each.

| condition | one service | ten services | ten ÷ one |
|---|---|---|---|
{chr(10).join(f"| no-wait release, +{ms} ms per AWS call | {w['one']:.1f} ms | {w['ten']:.1f} ms | {w['ten'] / w['one']:.2f}× |" for ms, w in r['several']['walls'].items())}

AWS calls per continuation look while the ten are followed (DescribeServiceDeployments for all ten, and the
report): {r['several']['looks']} (the last look is the final one).

On loopback as is, the emulator itself is the limit: it answers on 2 cores, in Python, so ten services'
concurrent calls (each service has its own family here, so ten registrations, ten updates and their looks,
against {rust['calls']:.0f} calls for one service) are served largely one after another. With a
round trip added to every answer, as every call to AWS has, the calls of each step overlap and ten services
take little longer than one.

## Under Lambda's CPU share

Lambda gives a function CPU in proportion to its memory (1,769 MB = one vCPU), so a 128 MB function runs on
about 7 % of a core. Each function ran in a cgroup with that CPU quota (`bench/cpu_share.py`; the emulator and
the Runtime API outside it, at full speed), one fresh process per run: its cold init, then a no-wait deploy of
a new image from a 1 MiB artifact (ours: both its jobs, on that process; their durations added). Medians of {max(5, runs // 3)} runs each,
alternating between the two. Cost: the billed duration × memory × ${PRICE_PER_GB_SECOND:.10f} per GB-second
(x86_64, first tier, published on aws.amazon.com/lambda/pricing); the request charge ($0.20 per million) is the
same for both and left out. Only the CPU is limited here, not the memory.

{share_table(r["shares"])}

Release binary: {binary / 1e6:.1f} MB; deployment package (the binary zipped as `bootstrap`): {zipped / 1e6:.2f} MB.

Loopback hides network latency: against real AWS each call adds tens of milliseconds to both columns alike.
The cold deploy wall times of large artifacts include the emulator's own cost: moto reads the whole object
from its store to answer a ranged GET, which S3 does not; the bytes read and the peak RSS are what the
functions themselves did.
"""


if __name__ == "__main__":
    sys.exit(main())
