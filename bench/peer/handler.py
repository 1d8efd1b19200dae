"""The comparison peer: the CodePipeline → ECS deploy Lambda as teams copy it from AWS samples (Python,
boto3, the standard runtime interface client). It downloads the whole artifact, unzips it in memory,
copies a fixed list of task definition fields, registers, updates the service and reports. With "wait": true
it waits in the invocation as aws-actions/amazon-ecs-deploy-task-definition does (boto3's services-stable
waiter, polling DescribeServices; PEER_WAITER_DELAY seconds apart, 15 by default).

Written for this repository in the style of the AWS samples (it is ours, not AWS's).

Used only by `make bench`, never deployed.
"""

import io
import json
import os
import zipfile

import boto3

ecs = boto3.client("ecs")
codepipeline = boto3.client("codepipeline")

COPIED = ["family", "taskRoleArn", "executionRoleArn", "networkMode", "containerDefinitions", "volumes",
          "placementConstraints", "requiresCompatibilities", "cpu", "memory"]


def handler(event, context):
    job = event["CodePipeline.job"]
    job_id = job["id"]
    try:
        data = job["data"]
        params = json.loads(data["actionConfiguration"]["configuration"]["UserParameters"])
        creds = data["artifactCredentials"]
        s3 = boto3.client(
            "s3",
            aws_access_key_id=creds["accessKeyId"],
            aws_secret_access_key=creds["secretAccessKey"],
            aws_session_token=creds["sessionToken"],
        )
        location = data["inputArtifacts"][0]["location"]["s3Location"]
        body = s3.get_object(Bucket=location["bucketName"], Key=location["objectKey"])["Body"].read()
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            definitions = json.loads(archive.read(params.get("fileName", "imagedefinitions.json")))
        images = {d["name"]: d["imageUri"] for d in definitions}

        service = ecs.describe_services(cluster=params["cluster"], services=[params["service"]])["services"][0]
        current = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])["taskDefinition"]
        new = {k: current[k] for k in COPIED if k in current}
        for container in new["containerDefinitions"]:
            if container["name"] in images:
                container["image"] = images[container["name"]]
        arn = ecs.register_task_definition(**new)["taskDefinition"]["taskDefinitionArn"]
        ecs.update_service(cluster=params["cluster"], service=params["service"], taskDefinition=arn)
        if params.get("wait"):
            delay = int(os.environ.get("PEER_WAITER_DELAY", "15"))
            ecs.get_waiter("services_stable").wait(cluster=params["cluster"], services=[params["service"]],
                                                   WaiterConfig={"Delay": delay, "MaxAttempts": 120})
        codepipeline.put_job_success_result(jobId=job_id, executionDetails={"summary": f"deployed {arn}"})
        return {"jobId": job_id, "outcome": "succeeded"}
    except Exception as e:  # the sample reports every error as a failure
        codepipeline.put_job_failure_result(jobId=job_id, failureDetails={"type": "JobFailed", "message": str(e)[:5000]})
        return {"jobId": job_id, "outcome": "failed"}
