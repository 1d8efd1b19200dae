"""Records continuation tokens written by a previous release's binary, for the upgrade tests.

    DEPLOYER_BIN=<the previous release's ecs-deployer> .venv/bin/python tests/upgrade/record.py

Each scenario runs the previous binary on the emulator with fixed names and fixed service deployment ids
(the emulator's ``ids`` admin route), so that `tests/integration/test_upgrade.py` can build the same ECS state
with plain API calls and hand the recorded token, verbatim, to the current binary. The tokens in
`tokens.json` were recorded from commit 11095dc (the release before the one engine) on 2026-12-03.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from emulator.harness import Ecs, Pipeline, Stack, image_definitions, zip_bytes  # noqa: E402
from upgrade.scenarios import SCENARIOS, prepare  # noqa: E402


def record(stack, scenario):
    ecs, pipeline = Ecs(stack.emulator), Pipeline(stack)
    artifacts = prepare(stack.emulator, ecs, pipeline, scenario)
    for step in scenario.get("before", []):
        run = pipeline.run(step, artifacts=artifacts)
        assert run.status == "Succeeded", run.jobs[-1]
    tokens = []
    job_id, event = pipeline.file_job(pipeline.job_data(json.dumps(scenario["user"]), artifacts))
    pipeline.invoke(event)
    report = stack.emulator.admin("GET", f"jobs/{job_id}")["reports"][0]["request"]
    token = report["continuationToken"]
    tokens.append(token)
    for _ in range(scenario.get("looks", 0)):
        job_id, event = pipeline.file_job(pipeline.job_data(json.dumps(scenario["user"]), artifacts, token=token))
        pipeline.invoke(event)
        token = stack.emulator.admin("GET", f"jobs/{job_id}")["reports"][0]["request"]["continuationToken"]
        tokens.append(token)
    return tokens[-1]


def main():
    binary = os.environ.get("DEPLOYER_BIN")
    if not binary:
        sys.exit("set DEPLOYER_BIN to the previous release's binary")
    commit = os.environ.get("DEPLOYER_COMMIT") or subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    recorded = {}
    with Stack() as stack:
        for name, scenario in SCENARIOS.items():
            recorded[name] = record(stack, scenario)
            print(f"{name}: {recorded[name]}")
    out = {"commit": commit, "tokens": recorded}
    (HERE / "tokens.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
