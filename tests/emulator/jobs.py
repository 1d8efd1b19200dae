"""The CodePipeline job API that moto lacks, validated against botocore's own service model."""

import json
import re
import threading

import botocore.session

_MODEL = botocore.session.get_session().get_service_model("codepipeline")
JOB_OPERATIONS = {"PutJobSuccessResult", "PutJobFailureResult", "GetJobDetails"}


class ApiError(Exception):
    def __init__(self, code, message, status=400):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def validate(shape, value, path="input"):
    """Checks a request against a botocore shape: types, required members, lengths, ranges, enums, patterns."""
    problems = []
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            return [f"{path} must be an object"]
        for name in shape.required_members:
            if name not in value:
                problems.append(f"{path}.{name} is required")
        for name, member_value in value.items():
            if name not in shape.members:
                problems.append(f"{path}.{name} is not a member of {shape.name}")
            else:
                problems += validate(shape.members[name], member_value, f"{path}.{name}")
        return problems
    if kind == "map":
        if not isinstance(value, dict):
            return [f"{path} must be a map"]
        for k, v in value.items():
            problems += validate(shape.key, k, f"{path} key")
            problems += validate(shape.value, v, f"{path}[{k}]")
        return problems + _length(shape, value, path)
    if kind == "list":
        if not isinstance(value, list):
            return [f"{path} must be a list"]
        for i, item in enumerate(value):
            problems += validate(shape.member, item, f"{path}[{i}]")
        return problems + _length(shape, value, path)
    if kind == "string":
        if not isinstance(value, str):
            return [f"{path} must be a string"]
        enum = shape.metadata.get("enum")
        if enum and value not in enum:
            problems.append(f"{path} must be one of {enum}, not {value!r}")
        pattern = shape.metadata.get("pattern")
        if pattern and not re.fullmatch(pattern, value, re.DOTALL):
            problems.append(f"{path} does not match {pattern}")
        return problems + _length(shape, value, path)
    if kind in ("integer", "long"):
        if not isinstance(value, int) or isinstance(value, bool):
            return [f"{path} must be an integer"]
        lo, hi = shape.metadata.get("min"), shape.metadata.get("max")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            problems.append(f"{path} must be within [{lo}, {hi}], not {value}")
        return problems
    if kind == "boolean" and not isinstance(value, bool):
        return [f"{path} must be a boolean"]
    return problems


def _length(shape, value, path):
    lo, hi = shape.metadata.get("min"), shape.metadata.get("max")
    n = len(value)
    if lo is not None and n < lo:
        return [f"{path} is shorter than {lo}"]
    if hi is not None and n > hi:
        return [f"{path} is longer than {hi} ({n})"]
    return []


class Jobs:
    """Jobs filed by the test (playing CodePipeline) and the results the function reports."""

    def __init__(self):
        self.lock = threading.Lock()
        self.jobs = {}

    def create(self, job_id, data, account_id="123456789012"):
        with self.lock:
            self.jobs[job_id] = {"id": job_id, "accountId": account_id, "data": data, "status": "InProgress", "reports": []}

    def get(self, job_id):
        with self.lock:
            return json.loads(json.dumps(self.jobs.get(job_id)))

    def handle(self, operation, body):
        request = json.loads(body or b"{}")
        shape = _MODEL.operation_model(operation).input_shape
        problems = validate(shape, request)
        if operation == "PutJobSuccessResult" and "outputVariables" in request and "continuationToken" in request:
            problems.append("outputVariables can only be set on a result without a continuationToken")
        if problems:
            raise ApiError("ValidationException", "; ".join(problems))
        with self.lock:
            job = self.jobs.get(request["jobId"])
            if job is None:
                raise ApiError("JobNotFoundException", f"job {request['jobId']} does not exist")
            if operation == "GetJobDetails":
                return {"jobDetails": {"id": job["id"], "accountId": job["accountId"], "data": job["data"]}}
            if job["status"] != "InProgress":
                job["late_reports"] = job.get("late_reports", 0) + 1
                raise ApiError("InvalidJobStateException", f"job {job['id']} is already {job['status']}")
            job["status"] = "Succeeded" if operation == "PutJobSuccessResult" else "Failed"
            job["reports"].append({"operation": operation, "request": request})
            return {}
