"""infra/terraform applied and destroyed for real, against moto's AWS emulator.

The module is copied as it is; the test adds one file, ``zz_override.tf``, which Terraform merges
into the module (override files): the provider's endpoints point at the emulator, and two settings
the emulator needs (below). Every resource of the plan must exist after ``apply``, every output
must be set, and after ``destroy`` neither the state nor the emulator may hold anything the
module made.

Why ``aws_instance.app`` never finished creating against moto (TF_LOG=DEBUG): after RunInstances,
the AWS provider (5.x) runs its update path on the new instance, which calls EC2
MonitorInstances whenever ``monitoring = true`` (detailed monitoring, which the module enables
and checkov requires). moto does not implement MonitorInstances: it answers HTTP 500
("Monitoring.monitor_instances is not yet implemented"), and the provider's SDK retries 5xx
responses up to ``max_retries`` (25) times with exponential back-off, longer than the create
timeout. Real EC2 implements the call, so the module stays as it is; the override turns detailed
monitoring off for the emulator only, and caps retries at 2 so that any other unimplemented call
fails within seconds instead of hanging.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
MODULE = REPO_ROOT / "infra" / "terraform"
SERVICES = ("ec2", "iam", "kms", "s3", "ssm", "sts")
# Outputs that are null by design with these variables: no key pair, so no SSH.
NULL_OUTPUTS = {"ssh_command"}

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def override(endpoint: str) -> str:
    endpoints = "\n".join(f'    {service} = "{endpoint}"' for service in SERVICES)
    return f"""# Written by infra/tests/test_terraform_emulator.py: the AWS provider against moto.
provider "aws" {{
  access_key                  = "test"
  secret_key                  = "test"  # pragma: allowlist secret
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  s3_use_path_style           = true
  max_retries                 = 2
  endpoints {{
{endpoints}
  }}
}}

# moto has no EC2 MonitorInstances (see the test's docstring).
resource "aws_instance" "app" {{
  monitoring = false
}}
"""


@pytest.fixture(scope="module")
def emulator_module(tmp_path_factory, commands, terraform_bin, terraform_env, aws):
    """run(*args) in an initialised copy of the module aimed at the emulator, and its variables."""
    root = tmp_path_factory.mktemp("terraform-emulator")
    workdir = root / "module"
    shutil.copytree(
        MODULE, workdir, ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*", "*.tfvars", "tests")
    )
    (workdir / "zz_override.tf").write_text(override(aws.endpoint))
    env = terraform_env(root)
    # The emulator's Ubuntu images are old (14.04, 16.04) and the module looks up 24.04: pin one.
    images = aws("ec2").describe_images(Owners=["099720109477"])["Images"]
    assert images, "the emulator lists no Ubuntu image"
    variables = {
        "allowed_cidrs": ["203.0.113.0/24"],
        "repo_url": "https://github.com/example/hotel-cancellation.git",
        "ami_id": images[0]["ImageId"],
        "bucket_force_destroy": True,  # a throwaway environment: the access-log bucket holds logs
    }
    (workdir / "emulator.auto.tfvars.json").write_text(json.dumps(variables))

    def run(*args: str, timeout: float = 600):
        result = commands.run([terraform_bin, *args, "-no-color"], cwd=workdir, env=env, timeout=timeout)
        assert result.returncode == 0, commands.describe(result)
        return result

    run("init", "-backend=false", "-input=false")
    return run, variables


@pytest.fixture(scope="module")
def applied(emulator_module):
    """The planned resource addresses, then the state and outputs after apply."""
    run, _ = emulator_module
    run("plan", "-input=false", "-out=tfplan")
    plan = json.loads(run("show", "-json", "tfplan").stdout)
    planned = {
        change["address"]
        for change in plan["resource_changes"]
        if change["mode"] == "managed" and change["change"]["actions"] == ["create"]
    }
    run("apply", "-input=false", "-auto-approve", "tfplan")
    state = json.loads(run("show", "-json").stdout)
    resources = state["values"]["root_module"]["resources"]
    created = {resource["address"] for resource in resources if resource["mode"] == "managed"}
    outputs = json.loads(run("output", "-json").stdout)
    return planned, created, outputs, {r["address"]: r["values"] for r in resources}


def test_every_planned_resource_is_created(applied):
    planned, created, _, _ = applied
    assert len(planned) >= 25  # the whole module (28 resources with one CIDR block and no key pair)
    assert created == planned
    print(f"terraform apply against the emulator: {len(created)}/{len(planned)} resources")


def test_every_output_is_set(applied):
    _, _, outputs, values = applied
    declared = set(re.findall(r'^output "([a-z_]+)"', (MODULE / "outputs.tf").read_text(), re.M))
    set_outputs = {name for name, output in outputs.items() if output["value"] not in (None, "")}
    # `terraform output` leaves null outputs out.
    assert set_outputs == declared - NULL_OUTPUTS
    instance = values["aws_instance.app"]
    assert outputs["instance_id"]["value"] == instance["id"]
    assert outputs["api_url"]["value"] == f"https://{instance['public_dns']}"
    assert outputs["dvc_remote_url"]["value"] == f"s3://{outputs['artifact_bucket']['value']}/dvc"


def test_the_emulator_holds_what_the_module_describes(applied, emulator_module, aws):
    _, _, outputs, values = applied
    _, variables = emulator_module
    instance = aws("ec2").describe_instances(InstanceIds=[outputs["instance_id"]["value"]])
    described = instance["Reservations"][0]["Instances"][0]
    assert described["ImageId"] == variables["ami_id"]
    metadata = described["MetadataOptions"]  # IMDSv2 only
    assert metadata["HttpTokens"] == "required"  # pragma: allowlist secret
    assert described["IamInstanceProfile"]["Arn"] == values["aws_iam_instance_profile.app"]["arn"]
    bucket = outputs["artifact_bucket"]["value"]
    encryption = aws("s3").get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]
    assert encryption["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    attached = aws("iam").list_attached_role_policies(RoleName=values["aws_iam_role.instance"]["name"])
    assert [p["PolicyName"] for p in attached["AttachedPolicies"]] == ["AmazonSSMManagedInstanceCore"]


def test_destroy_leaves_nothing(applied, emulator_module, aws):
    run, _ = emulator_module
    _, _, outputs, values = applied
    run("destroy", "-input=false", "-auto-approve")
    state = json.loads(run("show", "-json").stdout)
    assert state.get("values", {}).get("root_module", {}).get("resources", []) == []

    reservations = aws("ec2").describe_instances()["Reservations"]
    states = {i["InstanceId"]: i["State"]["Name"] for r in reservations for i in r["Instances"]}
    assert states[outputs["instance_id"]["value"]] == "terminated"
    assert aws("s3").list_buckets()["Buckets"] == []
    prefix = "hotel-mlops-"
    assert [r["RoleName"] for r in aws("iam").list_roles()["Roles"] if r["RoleName"].startswith(prefix)] == []
    profiles = aws("iam").list_instance_profiles()["InstanceProfiles"]
    assert [p for p in profiles if p["InstanceProfileName"].startswith(prefix)] == []
    groups = aws("ec2").describe_security_groups()["SecurityGroups"]
    assert [g["GroupName"] for g in groups if g["GroupName"].startswith(prefix)] == []
    # KMS keys cannot vanish at once: destroy schedules their deletion (deletion_window_in_days).
    key = aws("kms").describe_key(KeyId=outputs["kms_key_arn"]["value"])["KeyMetadata"]
    assert key["KeyState"] == "PendingDeletion"
    assert aws("kms").list_aliases(KeyId=key["KeyId"])["Aliases"] == []
    assert values  # the apply above really made resources to destroy
