"""A job worker written with boto3 only, as it would be for AWS, serving a custom action
type through `sandpipe serve`: poll, acknowledge, ask to be called again with a continuation
token, download the input artifact from the returned S3 location with the returned
credentials, upload the output, report success with output variables — which a later
action then uses. A second run reports failure. Run by host/cli/tests/serve_boto3.rs."""

import io
import os
import sys
import time
import zipfile

import boto3

from aws_helpers import expect_error, wait

cp = boto3.client("codepipeline")
s3 = boto3.client("s3")
TYPE = {"category": "Build", "owner": "Custom", "provider": "Upper", "version": "1"}




def next_job():
    return wait("a job", lambda: cp.poll_for_jobs(actionTypeId=TYPE, maxBatchSize=1)["jobs"])[0]


cp.create_custom_action_type(
    category="Build", provider="Upper", version="1",
    configurationProperties=[{"name": "Mode", "required": True, "key": True, "secret": False,
                              "queryable": True, "type": "String"}],
    inputArtifactDetails={"minimumCount": 1, "maximumCount": 1},
    outputArtifactDetails={"minimumCount": 1, "maximumCount": 1})
for bucket in ("jw-source", "jw-artifacts", "jw-site"):
    s3.create_bucket(Bucket=bucket)
s3.put_bucket_versioning(Bucket="jw-source", VersioningConfiguration={"Status": "Enabled"})
archive = io.BytesIO()
with zipfile.ZipFile(archive, "w") as z:
    z.writestr("hello.txt", "hello from the source\n")
s3.put_object(Bucket="jw-source", Key="src.zip", Body=archive.getvalue())

cp.create_pipeline(pipeline={
    "name": "worked",
    "roleArn": "arn:aws:iam::123456789012:role/role",
    "artifactStore": {"type": "S3", "location": "jw-artifacts"},
    "stages": [
        {"name": "Source", "actions": [{
            "name": "Fetch",
            "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
            "configuration": {"S3Bucket": "jw-source", "S3ObjectKey": "src.zip",
                              "PollForSourceChanges": "false"},
            "outputArtifacts": [{"name": "Src"}]}]},
        {"name": "Build", "actions": [{
            "name": "Shout", "actionTypeId": TYPE, "namespace": "Shouted",
            "configuration": {"Mode": "upper"},
            "inputArtifacts": [{"name": "Src"}], "outputArtifacts": [{"name": "Loud"}]}]},
        {"name": "Deploy", "actions": [{
            "name": "Publish",
            "actionTypeId": {"category": "Deploy", "owner": "AWS", "provider": "S3", "version": "1"},
            "configuration": {"BucketName": "jw-site", "Extract": "false",
                              "ObjectKey": "#{Shouted.Result}.zip"},
            "inputArtifacts": [{"name": "Loud"}]}]},
    ],
})

# A query that matches nothing takes nothing.
assert cp.poll_for_jobs(actionTypeId=TYPE, queryParam={"Mode": "whisper"})["jobs"] == []
job = next_job()
expect_error(cp.exceptions.InvalidNonceException, cp.acknowledge_job, jobId=job["id"], nonce="wrong")
assert cp.acknowledge_job(jobId=job["id"], nonce=job["nonce"])["status"] == "InProgress"
assert job["data"]["actionConfiguration"]["configuration"] == {"Mode": "upper"}, job
cp.put_job_success_result(jobId=job["id"], continuationToken="second-pass",
                          executionDetails={"summary": "started", "percentComplete": 50})
expect_error(cp.exceptions.InvalidJobStateException, cp.put_job_success_result, jobId=job["id"])

# Called again with the token: now do the work with the job's own credentials.
job = next_job()
cp.acknowledge_job(jobId=job["id"], nonce=job["nonce"])
data = cp.get_job_details(jobId=job["id"])["jobDetails"]["data"]
assert data["continuationToken"] == "second-pass", data
creds = data["artifactCredentials"]
artifacts = boto3.client("s3", aws_access_key_id=creds["accessKeyId"],
                         aws_secret_access_key=creds["secretAccessKey"],
                         aws_session_token=creds["sessionToken"])
source = data["inputArtifacts"][0]["location"]["s3Location"]
body = artifacts.get_object(Bucket=source["bucketName"], Key=source["objectKey"])["Body"].read()
with zipfile.ZipFile(io.BytesIO(body)) as z:
    text = z.read("hello.txt").decode()
loud = io.BytesIO()
with zipfile.ZipFile(loud, "w") as z:
    z.writestr("hello.txt", text.upper())
target = data["outputArtifacts"][0]["location"]["s3Location"]
artifacts.put_object(Bucket=target["bucketName"], Key=target["objectKey"], Body=loud.getvalue())
cp.put_job_success_result(jobId=job["id"], outputVariables={"Result": "LOUD"},
                          executionDetails={"summary": "shouted", "externalExecutionId": "w-1"})

first = cp.list_pipeline_executions(pipelineName="worked")["pipelineExecutionSummaries"][0]
wait("the execution", lambda: cp.get_pipeline_execution(
    pipelineName="worked", pipelineExecutionId=first["pipelineExecutionId"])
    ["pipelineExecution"]["status"] == "Succeeded")
published = s3.get_object(Bucket="jw-site", Key="LOUD.zip")["Body"].read()
with zipfile.ZipFile(io.BytesIO(published)) as z:
    assert z.read("hello.txt").decode() == "HELLO FROM THE SOURCE\n"
shout = [d for d in cp.list_action_executions(pipelineName="worked")["actionExecutionDetails"]
         if d["actionName"] == "Shout"][0]
assert shout["output"]["outputVariables"] == {"Result": "LOUD"}, shout
assert shout["output"]["executionResult"]["externalExecutionSummary"] == "shouted", shout

# A worker's failure fails the action with its message.
second = cp.start_pipeline_execution(name="worked")["pipelineExecutionId"]
job = next_job()
cp.acknowledge_job(jobId=job["id"], nonce=job["nonce"])
cp.put_job_failure_result(jobId=job["id"], failureDetails={"type": "JobFailed", "message": "too quiet"})
wait("the failure", lambda: cp.get_pipeline_execution(
    pipelineName="worked", pipelineExecutionId=second)["pipelineExecution"]["status"] == "Failed")
state = cp.get_pipeline_state(name="worked")
build = next(s for s in state["stageStates"] if s["stageName"] == "Build")
error = build["actionStates"][0]["latestExecution"]["errorDetails"]
assert error == {"code": "JobFailed", "message": "too quiet"}, build
expect_error(cp.exceptions.JobNotFoundException, cp.get_job_details, jobId="no-such-job")
print("ok")
