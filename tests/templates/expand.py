"""Expands a template for the security scan: SAM → plain CloudFormation (so the function's IAM role is
scanned like any role), with the optional pipeline switched on (scanners skip resources whose condition
is false by default), its approval gate on and every optional statement's parameter set. A template
without SAM's transform (target-account-role.yaml) only gets the parameters.
Usage: expand.py template.yaml out.json"""

import json
import sys

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse


class OfflinePolicies:
    """The managed policies SAM attaches, without asking IAM (no network, no credentials)."""

    def load(self):
        return {"AWSLambdaBasicExecutionRole": "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"}


EVERY_OPTION = {
    "ClusterName": "demo",
    "ServiceName": "web",
    "ExecutionRoleArn": "arn:aws:iam::123456789012:role/web-execution",
    "FunctionRoleArn": "arn:aws:iam::111111111111:role/deployer",
    "ExternalId": "pipeline-7",
    "AllowedFamilies": "web,batch-*",
    "ServiceArns": "arn:aws:ecs:eu-west-1:123456789012:service/prod/api",
    "ClusterArns": "arn:aws:ecs:eu-west-1:123456789012:cluster/prod",
    "PassRoleArns": "arn:aws:iam::123456789012:role/api-execution",
    "BeforeDeployTaskDefinitionArns": "arn:aws:ecs:us-east-1:123456789012:task-definition/web:*",
    "TaskLogGroupArns": "arn:aws:logs:us-east-1:123456789012:log-group:/ecs/web",
    "ScheduleArns": "arn:aws:scheduler:us-east-1:123456789012:schedule/default/nightly",
    "RuleArns": "arn:aws:events:us-east-1:123456789012:rule/cleanup-cron",
    "ScheduleRoleArns": "arn:aws:iam::123456789012:role/scheduler",
    "TargetRoleArns": "arn:aws:iam::210987654321:role/ecs-deployer-target",
}


def main(source, target):
    with open(source) as f:
        template = yaml_parse(f.read())
    if "Transform" in template:
        # `sam build` replaces the local CodeUri with the uploaded package; stand in for it.
        template["Resources"]["Deployer"]["Properties"]["CodeUri"] = "s3://example-bucket/ecs-deployer.zip"
        template["Parameters"]["CreatePipeline"]["Default"] = "true"
        template["Parameters"]["ApprovalGate"]["Default"] = "true"
        template["Parameters"]["FullRepositoryId"]["Default"] = "example/app"
    # Every optional statement on, so that the scan sees the widest policy the template can grant.
    for name, value in EVERY_OPTION.items():
        if name in template["Parameters"]:
            template["Parameters"][name]["Default"] = value
    if "Transform" not in template:
        with open(target, "w") as f:
            json.dump(template, f, indent=1, default=str)
        return
    expanded = transform(template, {"AWS::Region": "us-east-1", "AWS::Partition": "aws"}, OfflinePolicies(), passthrough_metadata=True)
    with open(target, "w") as f:
        json.dump(expanded, f, indent=1, default=str)


if __name__ == "__main__":
    main(*sys.argv[1:3])
