"""template.yaml as CloudFormation sees it after SAM's transform (.build/template-expanded.json, written by
`make templates` just before these tests): who may deploy what, and where failures go."""

import json
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


def test_the_function_role_writes_only_its_own_log_group_and_queue(expanded):
    role = expanded["DeployerRole"]["Properties"]
    assert "ManagedPolicyArns" not in role, "no AWSLambdaBasicExecutionRole (logs on every log group)"
    statements = {s["Sid"]: s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]}
    assert statements["OwnLogGroupOnly"]["Resource"] == {"Fn::GetAtt": ["DeployerLogGroup", "Arn"]}
    assert statements["FailedInvocationsToTheQueue"] == {
        "Sid": "FailedInvocationsToTheQueue", "Effect": "Allow", "Action": "sqs:SendMessage", "Resource": {"Fn::GetAtt": ["FailureQueue", "Arn"]}}
    assert all("logs:" not in json.dumps(s["Action"]) for sid, s in statements.items() if sid != "OwnLogGroupOnly")
    function = expanded["Deployer"]["Properties"]
    assert function["Role"] == {"Fn::GetAtt": ["DeployerRole", "Arn"]}
    assert set(function["Environment"]["Variables"]) == {"ALLOWED_IMAGES", "ALLOWED_ARTIFACT_BUCKETS"}


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
    statements = {s["Sid"]: s for p in expanded["DeployerRole"]["Properties"]["Policies"] for s in p["PolicyDocument"]["Statement"]}
    verify = statements["VerifyImages"]
    assert (verify["Effect"], verify["Action"]) == ("Allow", "ecr:DescribeImages")
    own = {"Fn::Sub": "arn:${AWS::Partition}:ecr:*:${AWS::AccountId}:repository/*"}
    condition, widened, default = verify["Resource"]["Fn::If"]
    assert (condition, default) == ("HasImageRepositoryArns", own)
    assert widened == {"Fn::Split": [",", {"Fn::Join": [",", [own, {"Ref": "ImageRepositoryArns"}]]}]}
    assert all("ecr:" not in json.dumps(s["Action"]) for sid, s in statements.items() if sid != "VerifyImages")
