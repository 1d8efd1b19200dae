"""Fixtures: one emulator + Runtime API + function process for the session, fresh names per test, and a
secret scan of every log line the function wrote."""

import sys
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from emulator.harness import PIPELINE_SECRET, PIPELINE_TOKEN, Ecs, Pipeline, Stack, binary  # noqa: E402


def pytest_sessionstart(session):
    if not binary().exists():
        raise pytest.UsageError(f"{binary()} is missing: run `cargo build --release` (make test does)")


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    with Stack(tmp_path_factory.mktemp("stack")) as s:
        yield s
        assert_no_secrets(s.logs())


@pytest.fixture
def emulator(stack):
    yield stack.emulator
    stack.emulator.admin("DELETE", "faults")
    stack.emulator.admin("POST", "policy", {"keys": {}})


@pytest.fixture
def pipeline(stack, emulator):
    return Pipeline(stack)


@pytest.fixture
def ecs(emulator):
    return Ecs(emulator)


@pytest.fixture
def names():
    """A fresh cluster, service and artifact key per test, so tests share no ECS state."""
    suffix = uuid.uuid4().hex[:8]
    return {"cluster": f"c-{suffix}", "service": f"web-{suffix}", "key": f"pipeline/BuildOutpu/{suffix}"}


def assert_no_secrets(text):
    assert PIPELINE_SECRET not in text, "the artifact secret access key reached the logs"
    assert PIPELINE_TOKEN not in text, "the artifact session token reached the logs"
    lowered = text.lower()
    for header in ("authorization", "x-amz-security-token", "lambda-runtime-aws-request-id"):
        assert header not in lowered, f"request headers ({header}) reached the logs"
