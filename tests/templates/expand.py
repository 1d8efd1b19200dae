"""Expands template.yaml for the security scan: SAM → plain CloudFormation (so the function's IAM role is
scanned like any role), with the optional pipeline switched on (scanners skip resources whose condition
is false by default) and its approval gate on. Usage: expand.py template.yaml out.json"""

import json
import sys

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse


class OfflinePolicies:
    """The managed policies SAM attaches, without asking IAM (no network, no credentials)."""

    def load(self):
        return {"AWSLambdaBasicExecutionRole": "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"}


def main(source, target):
    with open(source) as f:
        template = yaml_parse(f.read())
    # `sam build` replaces the local CodeUri with the uploaded package; stand in for it.
    template["Resources"]["Deployer"]["Properties"]["CodeUri"] = "s3://example-bucket/ecs-deployer.zip"
    template["Parameters"]["CreatePipeline"]["Default"] = "true"
    template["Parameters"]["ApprovalGate"]["Default"] = "true"
    template["Parameters"]["ServiceName"]["Default"] = "web"
    template["Parameters"]["FullRepositoryId"]["Default"] = "example/app"
    template["Parameters"]["ExecutionRoleArn"]["Default"] = "arn:aws:iam::123456789012:role/web-execution"
    expanded = transform(template, {"AWS::Region": "us-east-1", "AWS::Partition": "aws"}, OfflinePolicies(), passthrough_metadata=True)
    with open(target, "w") as f:
        json.dump(expanded, f, indent=1, default=str)


if __name__ == "__main__":
    main(*sys.argv[1:3])
