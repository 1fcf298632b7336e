"""boto3 against `sandpipe serve`: approvals, retries, stops, transitions, paging,
idempotent starts and the service's errors, each as botocore parses it.

Run by host/cli/tests/serve_boto3.rs with AWS_ENDPOINT_URL pointing at the server and
MARKER naming a file whose presence lets the build pass."""

import hashlib
import hmac
import io
import json
import os
import sys
import time
import urllib.error
import urllib.request
import zipfile

import boto3

from aws_helpers import expect_error, wait

MARKER = os.environ["MARKER"]
cp = boto3.client("codepipeline")
s3 = boto3.client("s3")



def status(execution_id):
    return cp.get_pipeline_execution(pipelineName="gated", pipelineExecutionId=execution_id)[
        "pipelineExecution"
    ]["status"]


def stage_state(name):
    state = cp.get_pipeline_state(name="gated")
    return next(s for s in state["stageStates"] if s["stageName"] == name)



# The source: a zip with a buildspec whose build passes only once MARKER exists.
for bucket in ("gated-source", "gated-artifacts"):
    s3.create_bucket(Bucket=bucket)
s3.put_bucket_versioning(Bucket="gated-source", VersioningConfiguration={"Status": "Enabled"})
archive = io.BytesIO()
with zipfile.ZipFile(archive, "w") as z:
    z.writestr(
        "buildspec.yml",
        f"version: 0.2\nphases:\n  build:\n    commands:\n      - test -f {MARKER}\n",
    )
s3.put_object(Bucket="gated-source", Key="src.zip", Body=archive.getvalue())

pipeline = {
    "name": "gated",
    "roleArn": "arn:aws:iam::123456789012:role/role",
    "artifactStore": {"type": "S3", "location": "gated-artifacts"},
    "stages": [
        {"name": "Source", "actions": [{
            "name": "Fetch",
            "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
            "configuration": {"S3Bucket": "gated-source", "S3ObjectKey": "src.zip",
                              "PollForSourceChanges": "false"},
            "outputArtifacts": [{"name": "Src"}]}]},
        {"name": "Approve", "actions": [{
            "name": "Gate",
            "actionTypeId": {"category": "Approval", "owner": "AWS", "provider": "Manual", "version": "1"},
            "configuration": {"CustomData": "ship it?"}}]},
        {"name": "Build", "actions": [{
            "name": "Check",
            "actionTypeId": {"category": "Build", "owner": "AWS", "provider": "CodeBuild", "version": "1"},
            "configuration": {"ProjectName": "check"},
            "inputArtifacts": [{"name": "Src"}]}]},
    ],
}
created = cp.create_pipeline(pipeline=pipeline, tags=[{"key": "team", "value": "local"}])
assert created["pipeline"]["version"] == 1, created
expect_error(cp.exceptions.PipelineNameInUseException, cp.create_pipeline, pipeline=pipeline)

# CreatePipeline started the first execution; it waits at the approval, whose token the
# state shows.
first = wait("the first execution", lambda: cp.list_pipeline_executions(pipelineName="gated")[
    "pipelineExecutionSummaries"])[0]["pipelineExecutionId"]
gate = wait("the approval", lambda: stage_state("Approve")["actionStates"][0]
            .get("latestExecution", {}).get("token"))
expect_error(cp.exceptions.InvalidApprovalTokenException, cp.put_approval_result,
             pipelineName="gated", stageName="Approve", actionName="Gate",
             result={"summary": "no", "status": "Approved"}, token="not-the-token")
expect_error(cp.exceptions.StageNotFoundException, cp.put_approval_result,
             pipelineName="gated", stageName="Nope", actionName="Gate",
             result={"summary": "no", "status": "Approved"}, token=gate)
expect_error(cp.exceptions.ActionNotFoundException, cp.put_approval_result,
             pipelineName="gated", stageName="Approve", actionName="Nope",
             result={"summary": "no", "status": "Approved"}, token=gate)
approved = cp.put_approval_result(pipelineName="gated", stageName="Approve", actionName="Gate",
                                  result={"summary": "looks good", "status": "Approved"},
                                  token=gate)
assert "approvedAt" in approved, approved
expect_error(cp.exceptions.ApprovalAlreadyCompletedException, cp.put_approval_result,
             pipelineName="gated", stageName="Approve", actionName="Gate",
             result={"summary": "again", "status": "Approved"}, token=gate)

# The build fails without the marker; a retry of the failed actions passes once it exists.
wait("the build to fail", lambda: status(first) == "Failed")
details = cp.list_action_executions(pipelineName="gated",
                                    filter={"pipelineExecutionId": first})["actionExecutionDetails"]
failed = [d for d in details if d["actionName"] == "Check"][0]
assert failed["status"] == "Failed", failed
open(MARKER, "w").close()
retried = cp.retry_stage_execution(pipelineName="gated", stageName="Build",
                                   pipelineExecutionId=first, retryMode="FAILED_ACTIONS")
assert retried["pipelineExecutionId"] == first, retried
wait("the retry to succeed", lambda: status(first) == "Succeeded")
expect_error(cp.exceptions.PipelineExecutionNotStoppableException, cp.stop_pipeline_execution,
             pipelineName="gated", pipelineExecutionId=first)

# A disabled transition holds the next execution before the stage, as the state shows;
# a start repeated with its clientRequestToken is the same execution; stop ends it.
cp.disable_stage_transition(pipelineName="gated", stageName="Approve",
                            transitionType="Inbound", reason="change freeze")
approve = stage_state("Approve")
assert approve["inboundTransitionState"]["enabled"] is False, approve
assert approve["inboundTransitionState"]["disabledReason"] == "change freeze", approve
second = cp.start_pipeline_execution(name="gated", clientRequestToken="deploy-42")["pipelineExecutionId"]
again = cp.start_pipeline_execution(name="gated", clientRequestToken="deploy-42")["pipelineExecutionId"]
assert second == again and second != first, (first, second, again)
wait("the source stage of the second execution", lambda: stage_state("Source")
     .get("latestExecution", {}).get("pipelineExecutionId") == second
     and stage_state("Source")["latestExecution"]["status"] == "Succeeded")
time.sleep(0.5)
assert stage_state("Approve")["latestExecution"]["pipelineExecutionId"] == first
assert status(second) == "InProgress"
stopped = cp.stop_pipeline_execution(pipelineName="gated", pipelineExecutionId=second,
                                     abandon=True, reason="not today")
assert stopped["pipelineExecutionId"] == second
wait("the stop", lambda: status(second) in ("Stopped", "Stopping") and status(second) == "Stopped")
cp.enable_stage_transition(pipelineName="gated", stageName="Approve", transitionType="Inbound")
assert stage_state("Approve")["inboundTransitionState"]["enabled"] is True

# Paging: one execution per page, newest first, through boto3's paginator.
pages = list(cp.get_paginator("list_pipeline_executions").paginate(
    pipelineName="gated", PaginationConfig={"PageSize": 1}))
ids = [s["pipelineExecutionId"] for p in pages for s in p["pipelineExecutionSummaries"]]
assert ids == [second, first], ids
assert len(pages) == 2, pages

# Tags, and the errors for what does not exist.
arn = f"arn:aws:codepipeline:us-east-1:123456789012:gated"
assert cp.list_tags_for_resource(resourceArn=arn)["tags"] == [{"key": "team", "value": "local"}]
expect_error(cp.exceptions.PipelineNotFoundException, cp.get_pipeline, name="nope")
expect_error(cp.exceptions.PipelineNotFoundException, cp.get_pipeline_state, name="nope")
expect_error(cp.exceptions.PipelineNotFoundException, cp.start_pipeline_execution, name="nope")
expect_error(cp.exceptions.PipelineExecutionNotFoundException, cp.get_pipeline_execution,
             pipelineName="gated", pipelineExecutionId="00000000-0000-0000-0000-000000000000")
expect_error(cp.exceptions.StageNotFoundException, cp.retry_stage_execution,
             pipelineName="gated", stageName="Nope", pipelineExecutionId=first,
             retryMode="FAILED_ACTIONS")
expect_error(cp.exceptions.PipelineVersionNotFoundException, cp.get_pipeline, name="gated",
             version=7)
expect_error(cp.exceptions.ResourceNotFoundException, cp.list_tags_for_resource,
             resourceArn="arn:aws:codepipeline:us-east-1:123456789012:nope")
listed = cp.list_pipelines()["pipelines"]
assert [p["name"] for p in listed] == ["gated"], listed
assert cp.list_pipelines(maxResults=1)["pipelines"][0]["name"] == "gated"
expect_error(cp.exceptions.InvalidNextTokenException, cp.list_pipelines, nextToken="garbage")
# Tags as AWS limits them: at most 50, and none under the reserved aws: prefix.
arn = "arn:aws:codepipeline:us-east-1:123456789012:gated"
expect_error(cp.exceptions.TooManyTagsException, cp.tag_resource, resourceArn=arn,
             tags=[{"key": f"k{i}", "value": "v"} for i in range(51)])
expect_error(cp.exceptions.InvalidTagsException, cp.tag_resource, resourceArn=arn,
             tags=[{"key": "aws:owner", "value": "v"}])
# Action types: the built-ins this server runs, and custom types registered and removed.
built = cp.list_action_types(actionOwnerFilter="AWS")["actionTypes"]
ids = {(t["id"]["category"], t["id"]["provider"]) for t in built}
assert ("Source", "S3") in ids and ("Approval", "Manual") in ids and ("Build", "CodeBuild") in ids, ids
s3_source = next(t for t in built if t["id"]["provider"] == "S3" and t["id"]["category"] == "Source")
assert s3_source["outputArtifactDetails"] == {"minimumCount": 1, "maximumCount": 1}, s3_source
custom = dict(category="Build", provider="Lint", version="1",
              configurationProperties=[{"name": "Level", "required": True, "key": True,
                                        "secret": False, "queryable": False, "type": "String"}],
              inputArtifactDetails={"minimumCount": 1, "maximumCount": 1},
              outputArtifactDetails={"minimumCount": 0, "maximumCount": 0})
made = cp.create_custom_action_type(**custom)["actionType"]
assert made["id"] == {"category": "Build", "owner": "Custom", "provider": "Lint", "version": "1"}, made
expect_error(cp.exceptions.ActionTypeAlreadyExistsException, cp.create_custom_action_type, **custom)
listed_custom = cp.list_action_types(actionOwnerFilter="Custom")["actionTypes"]
assert [t["id"]["provider"] for t in listed_custom] == ["Lint"], listed_custom
got = cp.get_action_type(category="Build", owner="Custom", provider="Lint", version="1")["actionType"]
assert got["executor"]["type"] == "JobWorker" and got["properties"][0]["name"] == "Level", got
cp.delete_custom_action_type(category="Build", provider="Lint", version="1")
expect_error(cp.exceptions.ActionTypeNotFoundException, cp.get_action_type,
             category="Build", owner="Custom", provider="Lint", version="1")
assert cp.list_rule_types()["ruleTypes"][0]["id"]["provider"] == "VariableCheck"
# The rest of the 44: a revision the source already ran with starts nothing; conditions that
# are not in progress cannot be overridden; no third-party jobs; deploy targets.
current = stage_state("Source")["actionStates"][0]["currentRevision"]["revisionId"]
same = cp.put_action_revision(pipelineName="gated", stageName="Source", actionName="Fetch",
                              actionRevision={"revisionId": current, "revisionChangeId": current,
                                              "created": time.time()})
assert same["newRevision"] is False, same
expect_error(cp.exceptions.ConditionNotOverridableException, cp.override_stage_condition,
             pipelineName="gated", stageName="Build", pipelineExecutionId=first,
             conditionType="BEFORE_ENTRY")
assert cp.poll_for_third_party_jobs(actionTypeId={"category": "Source", "owner": "ThirdParty",
                                                  "provider": "GitHub", "version": "1"})["jobs"] == []
expect_error(cp.exceptions.JobNotFoundException, cp.get_third_party_job_details,
             jobId="j", clientToken="c")
check_id = failed["actionExecutionId"]
assert cp.list_deploy_action_execution_targets(pipelineName="gated",
                                               actionExecutionId=check_id)["targets"] == []
expect_error(cp.exceptions.ActionExecutionNotFoundException,
             cp.list_deploy_action_execution_targets, pipelineName="gated", actionExecutionId="x")

# Condition rules are recorded and listed.
cp.create_pipeline(pipeline={
    "name": "ruled", "pipelineType": "V2",
    "roleArn": "arn:aws:iam::123456789012:role/role",
    "artifactStore": {"type": "S3", "location": "gated-artifacts"},
    "stages": [
        {"name": "Source", "actions": [{
            "name": "Fetch", "namespace": "SourceVariables",
            "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
            "configuration": {"S3Bucket": "gated-source", "S3ObjectKey": "src.zip",
                              "PollForSourceChanges": "false"},
            "outputArtifacts": [{"name": "Src"}]}]},
        {"name": "Ship", "beforeEntry": {"conditions": [{"result": "FAIL", "rules": [{
            "name": "FromTheRightBucket",
            "ruleTypeId": {"category": "Rule", "owner": "AWS", "provider": "VariableCheck", "version": "1"},
            "configuration": {"Variable": "#{SourceVariables.BucketName}", "Value": "gated-source",
                              "Operator": "EQ"}}]}]},
         "actions": [{
            "name": "Put",
            "actionTypeId": {"category": "Deploy", "owner": "AWS", "provider": "S3", "version": "1"},
            "configuration": {"BucketName": "gated-artifacts", "Extract": "false", "ObjectKey": "ruled.zip"},
            "inputArtifacts": [{"name": "Src"}]}]},
    ]})
ruled = wait("the ruled execution", lambda: [
    e for e in cp.list_pipeline_executions(pipelineName="ruled")["pipelineExecutionSummaries"]
    if e["status"] == "Succeeded"])[0]["pipelineExecutionId"]
rules = cp.list_rule_executions(pipelineName="ruled",
                                filter={"pipelineExecutionId": ruled})["ruleExecutionDetails"]
assert [(r["ruleName"], r["status"], r["stageName"]) for r in rules] == [
    ("FromTheRightBucket", "Succeeded", "Ship")], rules
assert rules[0]["input"]["ruleTypeId"]["provider"] == "VariableCheck", rules

# A webhook: its URL starts the pipeline for a signed payload its filters accept.
hook = cp.put_webhook(webhook={
    "name": "gated-push", "targetPipeline": "gated", "targetAction": "Fetch",
    "filters": [{"jsonPath": "$.ref", "matchEquals": "refs/heads/main"}],
    "authentication": "GITHUB_HMAC", "authenticationConfiguration": {"SecretToken": "s3cret"},
})["webhook"]
assert [w["definition"]["name"] for w in cp.list_webhooks()["webhooks"]] == ["gated-push"]
expect_error(cp.exceptions.InvalidWebhookFilterPatternException, cp.put_webhook, webhook={
    "name": "bad", "targetPipeline": "gated", "targetAction": "Fetch",
    "filters": [{"jsonPath": "ref"}], "authentication": "UNAUTHENTICATED",
    "authenticationConfiguration": {}})
expect_error(cp.exceptions.WebhookNotFoundException, cp.register_webhook_with_third_party,
             webhookName="nope")
cp.register_webhook_with_third_party(webhookName="gated-push")


def deliver(payload, secret="s3cret"):
    body = json.dumps(payload).encode()
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    request = urllib.request.Request(hook["url"], data=body, method="POST",
                                     headers={"X-Hub-Signature-256": signature})
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


assert deliver({"ref": "refs/heads/main"}, secret="wrong")[0] == 403
status_code, answer = deliver({"ref": "refs/heads/feature"})
assert status_code == 200 and "ignored" in answer, answer
status_code, answer = deliver({"ref": "refs/heads/main"})
assert status_code == 200 and "pipelineExecutionId" in answer, answer
hooked = cp.get_pipeline_execution(pipelineName="gated", pipelineExecutionId=answer["pipelineExecutionId"])
assert hooked["pipelineExecution"]["trigger"]["triggerType"] == "Webhook", hooked
assert "lastTriggered" in cp.list_webhooks()["webhooks"][0]
cp.delete_webhook(name="gated-push")
assert cp.list_webhooks()["webhooks"] == []

# IAM roles and their policies: stored, read back, and removed in the order IAM insists on.
iam = boto3.client("iam")
trust = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                           "Principal": {"Service": "codepipeline.amazonaws.com"}}]})
role = iam.create_role(RoleName="pipeline-role", AssumeRolePolicyDocument=trust)["Role"]
assert role["Arn"] == "arn:aws:iam::123456789012:role/pipeline-role", role
expect_error(iam.exceptions.EntityAlreadyExistsException, iam.create_role,
             RoleName="pipeline-role", AssumeRolePolicyDocument=trust)
inline = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]})
iam.put_role_policy(RoleName="pipeline-role", PolicyName="artifacts", PolicyDocument=inline)
assert iam.get_role_policy(RoleName="pipeline-role", PolicyName="artifacts")["PolicyDocument"] == json.loads(inline)
managed = "arn:aws:iam::aws:policy/AWSCodePipeline_FullAccess"
iam.attach_role_policy(RoleName="pipeline-role", PolicyArn=managed)
assert iam.list_role_policies(RoleName="pipeline-role")["PolicyNames"] == ["artifacts"]
assert [p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName="pipeline-role")["AttachedPolicies"]] == [managed]
assert "pipeline-role" in [r["RoleName"] for r in iam.list_roles()["Roles"]]
expect_error(iam.exceptions.DeleteConflictException, iam.delete_role, RoleName="pipeline-role")
iam.delete_role_policy(RoleName="pipeline-role", PolicyName="artifacts")
expect_error(iam.exceptions.NoSuchEntityException, iam.delete_role_policy,
             RoleName="pipeline-role", PolicyName="artifacts")
expect_error(iam.exceptions.DeleteConflictException, iam.delete_role, RoleName="pipeline-role")
iam.detach_role_policy(RoleName="pipeline-role", PolicyArn=managed)
iam.delete_role(RoleName="pipeline-role")
expect_error(iam.exceptions.NoSuchEntityException, iam.get_role, RoleName="pipeline-role")

# A client configured for Smithy RPC v2 CBOR gets an error its own parser reads.
from botocore.parsers import create_parser  # noqa: E402

request = urllib.request.Request(
    os.environ["AWS_ENDPOINT_URL"] + "/service/CodePipeline_20150709/operation/ListPipelines",
    data=b"\xa0", method="POST",
    headers={"smithy-protocol": "rpc-v2-cbor", "Content-Type": "application/cbor"})
try:
    urllib.request.urlopen(request)
    raise AssertionError("a CBOR request was answered")
except urllib.error.HTTPError as error:
    body = error.read()
    assert error.code == 400 and error.headers["Content-Type"] == "application/cbor", error.headers
    parsed = create_parser("smithy-rpc-v2-cbor").parse(
        {"status_code": 400, "headers": dict(error.headers), "body": body}, None)
    assert parsed["Error"]["Code"] == "UnknownOperationException", parsed
    assert "configure the client's protocol as json" in parsed["Error"]["Message"], parsed
print("ok")
