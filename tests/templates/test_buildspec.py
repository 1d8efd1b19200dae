"""buildspec.yml, run as CodeBuild runs it (every command of every phase in one bash session), with stub
`docker` and `aws` on PATH that record what they are asked to do."""

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
REPOSITORY = "123456789012.dkr.ecr.us-east-1.amazonaws.com/web"
SHA = "3f2a9c1e5b7d4f60a1b2c3d4e5f60718293a4b5c"

STUB = """#!/usr/bin/env bash
echo "$(basename "$0") $*" >> "$STUB_LOG"
if [ "$(basename "$0")" = aws ] && [ "$2" = describe-images ]; then
  if [ -n "${STUB_IMAGE_EXISTS:-}" ]; then echo '{"imageDetails": [{}]}'; exit 0; fi
  echo "An error occurred (ImageNotFoundException) when calling the DescribeImages operation" >&2; exit 254
fi
if [ "$(basename "$0")" = aws ]; then echo stub-password; fi
if [ "$(basename "$0")" = docker ] && [ "$1" = login ]; then cat > /dev/null; fi
"""


def run_buildspec(tmp_path, **env):
    spec = yaml.safe_load((ROOT / "buildspec.yml").read_text())
    assert spec["version"] == 0.2
    commands = [c for phase in ("install", "pre_build", "build", "post_build") for c in spec["phases"].get(phase, {}).get("commands", [])]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("docker", "aws"):
        (bin_dir / tool).write_text(STUB)
        (bin_dir / tool).chmod(0o755)
    work = tmp_path / "src"
    work.mkdir()
    log = tmp_path / "calls.log"
    environment = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "STUB_LOG": str(log), "AWS_DEFAULT_REGION": "us-east-1", **env}
    result = subprocess.run(["bash", "-c", "\n".join(commands)], cwd=work, env=environment, capture_output=True, text=True)
    calls = log.read_text().splitlines() if log.exists() else []
    return result, calls, work, spec


def test_pushes_the_commit_sha_tag_and_writes_imagedefinitions(tmp_path):
    result, calls, work, spec = run_buildspec(tmp_path, REPOSITORY_URI=REPOSITORY, CONTAINER_NAME="web", CODEBUILD_RESOLVED_SOURCE_VERSION=SHA)
    assert result.returncode == 0, result.stderr
    assert "aws ecr get-login-password --region us-east-1" in calls
    assert "docker login --username AWS --password-stdin 123456789012.dkr.ecr.us-east-1.amazonaws.com" in calls
    assert any(c.startswith(f"docker build --tag {REPOSITORY}:3f2a9c1 ") for c in calls), calls
    pushes = [c for c in calls if c.startswith("docker push")]
    assert pushes == [f"docker push {REPOSITORY}:3f2a9c1"], "only the SHA tag is pushed, never latest"
    assert json.loads((work / "imagedefinitions.json").read_text()) == [{"name": "web", "imageUri": f"{REPOSITORY}:3f2a9c1"}]
    assert spec["artifacts"]["files"] == ["imagedefinitions.json"]
    assert f"aws ecr describe-images --region us-east-1 --repository-name web --image-ids imageTag=3f2a9c1" in calls


def test_a_rerun_of_the_same_commit_deploys_the_image_already_pushed(tmp_path):
    result, calls, work, _ = run_buildspec(tmp_path, REPOSITORY_URI=REPOSITORY, CONTAINER_NAME="web",
                                           CODEBUILD_RESOLVED_SOURCE_VERSION=SHA, STUB_IMAGE_EXISTS="1")
    assert result.returncode == 0, result.stderr
    assert "is already in ECR (tags are immutable): not building or pushing it again" in result.stdout
    assert not [c for c in calls if c.startswith(("docker build", "docker push"))], calls
    assert json.loads((work / "imagedefinitions.json").read_text()) == [{"name": "web", "imageUri": f"{REPOSITORY}:3f2a9c1"}]


@pytest.mark.parametrize("missing", ["CODEBUILD_RESOLVED_SOURCE_VERSION", "REPOSITORY_URI", "CONTAINER_NAME"])
def test_refuses_to_build_without_what_names_the_image(tmp_path, missing):
    env = {"REPOSITORY_URI": REPOSITORY, "CONTAINER_NAME": "web", "CODEBUILD_RESOLVED_SOURCE_VERSION": SHA}
    del env[missing]
    result, calls, work, _ = run_buildspec(tmp_path, **env)
    assert result.returncode != 0
    assert missing in result.stderr
    assert not [c for c in calls if c.startswith("docker")], "nothing built or pushed"
    assert not (work / "imagedefinitions.json").exists()
