"""template.yaml as CloudFormation sees it after SAM's transform (.build/template-expanded.json, written by
`make templates` just before these tests): who may deploy what, and where failures go."""

import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
EXPANDED = ROOT / ".build" / "template-expanded.json"


class Loader(yaml.SafeLoader):
    pass


Loader.add_multi_constructor("!", lambda loader, suffix, node: {suffix: loader.construct_sequence(node) if isinstance(node, yaml.SequenceNode) else loader.construct_mapping(node) if isinstance(node, yaml.MappingNode) else loader.construct_scalar(node)})


@pytest.fixture(scope="module")
def expanded():
    assert EXPANDED.exists(), "run `make templates` (it expands the template first)"
    return json.loads(EXPANDED.read_text())["Resources"]


def test_the_service_is_named_explicitly():
    parameters = yaml.load((ROOT / "template.yaml").read_text(), Loader=Loader)["Parameters"]
    assert "Default" not in parameters["ServiceName"], "no default: permission to invoke is permission to deploy"
    assert "*" not in parameters["ServiceName"]["AllowedPattern"].replace(".+", "").replace("{1,255}", "")


def sids(role):
    """A role's statements by Sid; an optional one (Fn::If with AWS::NoValue) as when its parameter is set."""
    return {s["Sid"]: s for p in role["Policies"] for s in (x["Fn::If"][1] if "Fn::If" in x else x for x in p["PolicyDocument"]["Statement"])}


def test_the_function_role_writes_only_its_own_log_group_and_queue(expanded):
    role = expanded["DeployerRole"]["Properties"]
    assert "ManagedPolicyArns" not in role, "no AWSLambdaBasicExecutionRole (logs on every log group)"
    statements = sids(role)
    assert statements["OwnLogGroupOnly"]["Resource"] == {"Fn::GetAtt": ["DeployerLogGroup", "Arn"]}
    assert statements["FailedInvocationsToTheQueue"] == {
        "Sid": "FailedInvocationsToTheQueue", "Effect": "Allow", "Action": "sqs:SendMessage", "Resource": {"Fn::GetAtt": ["FailureQueue", "Arn"]}}
    assert statements["BeforeDeployTaskLogs"]["Action"] == "logs:GetLogEvents", "reads a task's log, writes none"
    assert all("logs:" not in json.dumps(s["Action"]) for sid, s in statements.items() if sid not in ("OwnLogGroupOnly", "BeforeDeployTaskLogs"))
    function = expanded["Deployer"]["Properties"]
    assert function["Role"] == {"Fn::GetAtt": ["DeployerRole", "Arn"]}
    assert set(function["Environment"]["Variables"]) == {
        "ALLOWED_IMAGES", "ALLOWED_ARTIFACT_BUCKETS", "ALLOWED_FAMILIES", "ALLOWED_ROLE_ARNS", "REPORT_BEFORE_CHANGE"}


def test_failed_asynchronous_invocations_go_to_an_encrypted_alarmed_queue(expanded):
    config = next(r for r in expanded.values() if r["Type"] == "AWS::Lambda::EventInvokeConfig")["Properties"]
    assert config["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": ["FailureQueue", "Arn"]}
    queue = expanded["FailureQueue"]["Properties"]
    assert queue["KmsMasterKeyId"] and queue["MessageRetentionPeriod"] == 1209600
    alarm = expanded["FailureQueueNotEmpty"]["Properties"]
    assert (alarm["MetricName"], alarm["Threshold"], alarm["ComparisonOperator"]) == ("ApproximateNumberOfMessagesVisible", 0, "GreaterThanThreshold")
    assert alarm["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["FailureQueue", "QueueName"]}}]


def test_the_function_may_look_up_images_in_its_own_account_and_the_repositories_named(expanded):
    """verifyImages: ecr:DescribeImages on this account's repositories in every region, widened only by
    ImageRepositoryArns, and nothing else of ECR."""
    statements = sids(expanded["DeployerRole"]["Properties"])
    verify = statements["VerifyImages"]
    assert (verify["Effect"], verify["Action"]) == ("Allow", "ecr:DescribeImages")
    own = {"Fn::Sub": "arn:${AWS::Partition}:ecr:*:${AWS::AccountId}:repository/*"}
    condition, widened, default = verify["Resource"]["Fn::If"]
    assert (condition, default) == ("HasImageRepositoryArns", own)
    assert widened == {"Fn::Split": [",", {"Fn::Join": [",", [own, {"Ref": "ImageRepositoryArns"}]]}]}
    assert all("ecr:" not in json.dumps(s["Action"]) for sid, s in statements.items() if sid != "VerifyImages")


# ---- What the policies become for given parameters (a small evaluator of the intrinsics both templates use) ----

NO_VALUE = object()


def template(name):
    return yaml.load((ROOT / name).read_text(), Loader=Loader)


def evaluate(doc, node, given, account="123456789012", region="us-east-1"):
    """Resolves Ref, Fn::Sub, Fn::Join, Fn::Split, Fn::If, Fn::Equals/Not and GetAtt (as "<resource.attr>") the
    way CloudFormation does, with the parameters' defaults overridden by `given`; AWS::NoValue drops the item."""
    parameters = {k: v.get("Default") for k, v in doc["Parameters"].items()} | given
    pseudo = {"AWS::AccountId": account, "AWS::Region": region, "AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com", "AWS::NoValue": NO_VALUE}

    def condition(name):
        return ev(doc["Conditions"][name])

    def ev(n):
        if isinstance(n, list):
            return [x for x in (ev(i) for i in n) if x is not NO_VALUE]
        if not isinstance(n, dict):
            return n
        if len(n) == 1:
            (key, value), = n.items()
            if key == "Ref":
                return pseudo[value] if value in pseudo else parameters[value]
            if key == "Sub":
                text, names = (value, {}) if isinstance(value, str) else (value[0], {k: ev(v) for k, v in value[1].items()})
                return re.sub(r"\$\{([^}]+)\}", lambda m: str(names.get(m[1], pseudo.get(m[1], parameters.get(m[1], f"<{m[1]}>")))), text)
            if key == "Join":
                return value[0].join(ev(value[1]))
            if key == "Split":
                return ev(value[1]).split(value[0])
            if key == "Select":
                return ev(value[1])[int(value[0])]
            if key == "If":
                return ev(value[1] if condition(value[0]) else value[2])
            if key == "Equals":
                return ev(value[0]) == ev(value[1])
            if key == "Not":
                return not ev(value[0])
            if key == "And":
                return all(ev(v) for v in value)
            if key == "Condition":
                return condition(value)
            if key == "GetAtt":
                return f"<{'.'.join(value) if isinstance(value, list) else value}>"
        return {k: v for k, v in ((k, ev(v)) for k, v in n.items()) if v is not NO_VALUE}

    return ev(node)


def statements(name, resource, given):
    doc = template(name)
    policies = evaluate(doc, doc["Resources"][resource]["Properties"]["Policies"], given)
    return {s["Sid"]: s for p in policies for s in p["PolicyDocument"]["Statement"]}


FUNCTION = ("template.yaml", "DeployerRole")
TARGET = ("target-account-role.yaml", "TargetRole")
ONE = {"ClusterName": "demo", "ServiceName": "web", "ExecutionRoleArn": "arn:aws:iam::123456789012:role/web-execution", "FunctionRoleArn": "arn:aws:iam::111111111111:role/deployer"}
OPTIONAL = {
    "BeforeDeployTask": ("BeforeDeployTaskDefinitionArns", "arn:aws:ecs:us-east-1:123456789012:task-definition/web:*"),
    "BeforeDeployTaskStop": ("BeforeDeployTaskDefinitionArns", "arn:aws:ecs:us-east-1:123456789012:task-definition/web:*"),
    "BeforeDeployTaskLogs": ("TaskLogGroupArns", "arn:aws:logs:us-east-1:123456789012:log-group:/ecs/web"),
    "MoveSchedules": ("ScheduleArns", "arn:aws:scheduler:us-east-1:123456789012:schedule/default/nightly"),
    "MoveRuleTargets": ("RuleArns", "arn:aws:events:us-east-1:123456789012:rule/cleanup-cron"),
    "PassTheScheduleRoles": ("ScheduleRoleArns", "arn:aws:iam::123456789012:role/scheduler"),
}


@pytest.mark.parametrize("where", [FUNCTION, TARGET], ids=["template.yaml", "target-account-role.yaml"])
def test_by_default_the_policies_reach_the_one_service_and_nothing_optional(where):
    granted = statements(*where, ONE)
    assert not set(granted) & set(OPTIONAL) and "AssumeTargetAccountRoles" not in granted, sorted(granted)
    assert granted["ReadAndUpdateTheServices"]["Resource"] == ["arn:aws:ecs:us-east-1:123456789012:service/demo/web"]
    assert granted["ServiceDeployments"]["Resource"] == ["arn:aws:ecs:us-east-1:123456789012:service-deployment/demo/web/*"]
    assert granted["ServiceRevisions"]["Resource"] == ["arn:aws:ecs:us-east-1:123456789012:service-revision/demo/web/*"]
    assert granted["ExplainFailedRollouts"]["Condition"] == {"ArnEquals": {"ecs:cluster": ["arn:aws:ecs:us-east-1:123456789012:cluster/demo"]}}
    assert granted["ExplainFailedRolloutsTasks"]["Resource"] == ["arn:aws:ecs:us-east-1:123456789012:task/demo/*"]
    assert granted["PassOnlyTheServiceRolesToEcsTasks"]["Resource"] == ["arn:aws:iam::123456789012:role/web-execution"]


@pytest.mark.parametrize("where", [FUNCTION, TARGET], ids=["template.yaml", "target-account-role.yaml"])
def test_more_services_need_no_hand_edits_each_statement_scoped_to_them(where):
    """ServiceArns and ClusterArns scope every service statement; each service's deployments, revisions and
    tasks are derived from its ARN, in its own region."""
    given = ONE | {
        "ServiceArns": "arn:aws:ecs:eu-west-1:123456789012:service/prod/api,arn:aws:ecs:us-east-1:123456789012:service/demo/worker",
        "ClusterArns": "arn:aws:ecs:eu-west-1:123456789012:cluster/prod",
        "TaskRoleArn": "arn:aws:iam::123456789012:role/web-task",
        "PassRoleArns": "arn:aws:iam::123456789012:role/api-execution",
    }
    granted = statements(*where, given)
    assert granted["ReadAndUpdateTheServices"]["Resource"] == [
        "arn:aws:ecs:us-east-1:123456789012:service/demo/web", "arn:aws:ecs:eu-west-1:123456789012:service/prod/api",
        "arn:aws:ecs:us-east-1:123456789012:service/demo/worker"]
    assert granted["ServiceDeployments"]["Resource"] == [
        "arn:aws:ecs:us-east-1:123456789012:service-deployment/demo/web/*", "arn:aws:ecs:eu-west-1:123456789012:service-deployment/prod/api/*",
        "arn:aws:ecs:us-east-1:123456789012:service-deployment/demo/worker/*"]
    assert granted["ServiceRevisions"]["Resource"][1] == "arn:aws:ecs:eu-west-1:123456789012:service-revision/prod/api/*"
    assert granted["ExplainFailedRolloutsTasks"]["Resource"] == [
        "arn:aws:ecs:us-east-1:123456789012:task/demo/*", "arn:aws:ecs:eu-west-1:123456789012:task/prod/*"]
    assert granted["PassOnlyTheServiceRolesToEcsTasks"]["Resource"] == [
        "arn:aws:iam::123456789012:role/web-execution", "arn:aws:iam::123456789012:role/web-task", "arn:aws:iam::123456789012:role/api-execution"]


@pytest.mark.parametrize("where", [FUNCTION, TARGET], ids=["template.yaml", "target-account-role.yaml"])
@pytest.mark.parametrize("sid", sorted(OPTIONAL))
def test_each_optional_statement_is_there_only_when_its_parameter_is_set(where, sid):
    parameter, value = OPTIONAL[sid]
    assert sid not in statements(*where, ONE)
    granted = statements(*where, ONE | {parameter: value})
    assert sid in granted
    assert json.dumps(granted[sid]).count("*\"") <= 2, granted[sid]  # never a bare "*" resource
    if sid == "BeforeDeployTask":
        assert granted[sid]["Action"] == "ecs:RunTask" and granted[sid]["Resource"] == [value]
        assert granted[sid]["Condition"] == {"ArnEquals": {"ecs:cluster": ["arn:aws:ecs:us-east-1:123456789012:cluster/demo"]}}
    if sid == "BeforeDeployTaskLogs":
        assert granted[sid]["Resource"] == [value + ":log-stream:*"]
    if sid == "PassTheScheduleRoles":
        assert granted[sid]["Condition"] == {"StringEquals": {"iam:PassedToService": ["scheduler.amazonaws.com", "events.amazonaws.com"]}}


def test_the_function_assumes_only_target_roles_and_the_code_knows_them():
    assert "AssumeTargetAccountRoles" not in statements(*FUNCTION, ONE)
    roles = "arn:aws:iam::210987654321:role/ecs-deployer-target,arn:aws:iam::222222222222:role/ecs-deployer-target"
    granted = statements(*FUNCTION, ONE | {"TargetRoleArns": roles})
    assert granted["AssumeTargetAccountRoles"] == {"Sid": "AssumeTargetAccountRoles", "Effect": "Allow", "Action": "sts:AssumeRole", "Resource": roles.split(",")}
    doc = template("template.yaml")
    variables = doc["Resources"]["Deployer"]["Properties"]["Environment"]["Variables"]
    assert evaluate(doc, variables, ONE | {"TargetRoleArns": roles})["ALLOWED_ROLE_ARNS"] == roles
    assert "ALLOWED_ROLE_ARNS" not in evaluate(doc, variables, ONE)
    assert evaluate(doc, variables, ONE)["REPORT_BEFORE_CHANGE"] == "true"
    assert evaluate(doc, variables, ONE | {"AllowedFamilies": "web,batch-*"})["ALLOWED_FAMILIES"] == "web,batch-*"


def test_the_workload_account_role_grants_what_the_function_role_grants_there_and_nothing_else():
    """One set of deploy statements: the target role's are the function role's, less its own log group,
    queue, job reports and AssumeRole."""
    full = ONE | {sid_param: value for sid_param, value in OPTIONAL.values()} | {"ServiceArns": "arn:aws:ecs:us-east-1:123456789012:service/demo/api"}
    function, target = statements(*FUNCTION, full), statements(*TARGET, full)
    assert set(function) - set(target) == {"OwnLogGroupOnly", "FailedInvocationsToTheQueue", "ReportJobResults"}
    assert all(function[sid] == target[sid] for sid in target), [sid for sid in target if function[sid] != target[sid]]


def test_the_workload_account_role_trusts_only_the_function_role_for_job_sessions():
    doc = template("target-account-role.yaml")
    trust = lambda given: evaluate(doc, doc["Resources"]["TargetRole"]["Properties"]["AssumeRolePolicyDocument"], ONE | given)["Statement"]
    (statement,) = trust({})
    assert statement["Principal"] == {"AWS": "arn:aws:iam::111111111111:root"} and statement["Action"] == "sts:AssumeRole"
    assert statement["Condition"] == {
        "ArnEquals": {"aws:PrincipalArn": "arn:aws:iam::111111111111:role/deployer"}, "StringLike": {"sts:RoleSessionName": "codepipeline-*"}}
    (statement,) = trust({"ExternalId": "pipeline-7"})
    assert statement["Condition"]["StringEquals"] == {"sts:ExternalId": "pipeline-7"}
    assert "Default" not in doc["Parameters"]["FunctionRoleArn"] and "Default" not in doc["Parameters"]["ServiceName"]
    assert doc["Parameters"]["ExternalId"]["NoEcho"] is True
    # The function's role is named after its stack: its ARN is known before it exists.
    function = template("template.yaml")
    assert evaluate(function, function["Resources"]["DeployerRole"]["Properties"]["RoleName"], ONE) == "<AWS::StackName>-ecs-deployer"
