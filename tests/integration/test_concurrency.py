"""Many pipelines at once: 10 services, 5 releases each (50 deploy jobs plus their continuations), run by 4
function processes. Every job is answered once, every service ends on the revision of its last release,
and no revision is registered twice."""

import threading

from conftest import assert_no_secrets
from emulator.harness import Ecs, Pipeline, Stack, image_definitions, zip_bytes

REPO = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
SERVICES, RELEASES, PROCESSES = 10, 5, 4


def test_fifty_jobs_for_ten_services_across_four_processes(tmp_path):
    with Stack(tmp_path, processes=PROCESSES) as stack:
        ecs = Ecs(stack.emulator)
        pipeline = Pipeline(stack, lambda_timeout=60)
        names = [f"svc{i:02}" for i in range(SERVICES)]
        for name in names:
            ecs.seed("busy", name, [("web", f"{REPO}/{name}:0000000")], polls=1)
            for release in range(1, RELEASES + 1):
                pipeline.upload(f"{name}/{release}", zip_bytes({"imagedefinitions.json": image_definitions([("web", f"{REPO}/{name}:{release:07d}")])}))
        runs, errors = {name: [] for name in names}, []

        def release_train(name):
            try:
                for release in range(1, RELEASES + 1):  # a pipeline runs one release of a stage at a time
                    runs[name].append(pipeline.run({"cluster": "busy", "service": name}, artifacts=[("BuildOutput", f"{name}/{release}")]))
            except Exception as e:  # surfaced below
                errors.append(e)

        threads = [threading.Thread(target=release_train, args=(n,)) for n in names]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
        assert not errors, errors
        jobs = [job for name in names for run in runs[name] for job in run.jobs]
        assert len(jobs) >= SERVICES * RELEASES * 2, "each release: a deploy job and at least one continuation"
        assert all(len(job["reports"]) == 1 for job in jobs), "every job answered exactly once"
        assert all(run.status == "Succeeded" for name in names for run in runs[name])
        for name in names:
            service = ecs.service("busy", name)
            image = ecs.task_definition(service["taskDefinition"])["taskDefinition"]["containerDefinitions"][0]["image"]
            assert image == f"{REPO}/{name}:{RELEASES:07d}", name
            assert len(ecs.revisions(name)) == 1 + RELEASES, f"{name}: no extra revisions"
        served = [f for f in stack.functions if "job received" in f.logs()]
        assert len(served) >= 2, "the work was spread over several processes"
        assert all(f.alive() for f in stack.functions)
        assert_no_secrets(stack.logs())
