# Offline tests of the module: `terraform test` (Terraform >= 1.7). The AWS provider is mocked, so
# no credentials or network are needed; data sources that the configuration indexes or that
# tests compare get fixed values.

mock_provider "aws" {
  override_data {
    target = data.aws_ami.ubuntu
    values = {
      id = "ami-0123456789abcdef0"
    }
  }

  override_data {
    target = data.aws_subnets.default
    values = {
      ids = ["subnet-0bbbbbbbbbbbbbbbb", "subnet-0aaaaaaaaaaaaaaaa"]
    }
  }

  override_data {
    target = data.aws_caller_identity.current
    values = {
      account_id = "123456789012"
    }
  }

  override_data {
    target = data.aws_partition.current
    values = {
      partition = "aws"
    }
  }
}

variables {
  region        = "eu-west-1"
  allowed_cidrs = ["203.0.113.0/24", "198.51.100.7/32", "2001:db8::/32"]
  key_name      = "ops"
  repo_url      = "https://github.com/example/hotel-cancellation.git"
  repo_branch   = "release/1.0"
}

run "instance_is_hardened" {
  command = apply

  assert {
    condition     = aws_instance.app.metadata_options[0].http_tokens == "required"
    error_message = "IMDSv2 must be required (metadata_options.http_tokens)."
  }

  assert {
    condition     = aws_instance.app.metadata_options[0].http_put_response_hop_limit == 2
    error_message = "The IMDS hop limit must be 2 so that containers reach the role's credentials, and no more."
  }

  assert {
    condition     = aws_instance.app.root_block_device[0].encrypted && aws_instance.app.root_block_device[0].volume_type == "gp3"
    error_message = "The root volume must be an encrypted gp3 volume."
  }

  assert {
    condition     = aws_instance.app.monitoring && aws_instance.app.ebs_optimized
    error_message = "Detailed monitoring and EBS optimisation must be on."
  }

  assert {
    condition     = aws_instance.app.ami == "ami-0123456789abcdef0"
    error_message = "The instance must boot the AMI found by the aws_ami data source."
  }

  assert {
    condition     = aws_instance.app.subnet_id == "subnet-0aaaaaaaaaaaaaaaa"
    error_message = "Without subnet_id, the first default subnet (sorted) must be used."
  }
}

run "bucket_is_private_encrypted_and_tls_only" {
  command = apply

  assert {
    condition = alltrue([
      aws_s3_bucket_public_access_block.artifacts.block_public_acls,
      aws_s3_bucket_public_access_block.artifacts.block_public_policy,
      aws_s3_bucket_public_access_block.artifacts.ignore_public_acls,
      aws_s3_bucket_public_access_block.artifacts.restrict_public_buckets,
    ])
    error_message = "All four S3 public access block settings must be true."
  }

  assert {
    condition = alltrue([
      for rule in aws_s3_bucket_server_side_encryption_configuration.artifacts.rule :
      rule.apply_server_side_encryption_by_default[0].sse_algorithm == "aws:kms"
      && rule.apply_server_side_encryption_by_default[0].kms_master_key_id == aws_kms_key.artifacts.arn
    ]) && length(aws_s3_bucket_server_side_encryption_configuration.artifacts.rule) == 1
    error_message = "The artifact bucket must be encrypted by default with the module's KMS key."
  }

  assert {
    condition     = aws_kms_key.artifacts.enable_key_rotation
    error_message = "The KMS key must rotate."
  }

  assert {
    condition = anytrue([
      for statement in jsondecode(aws_s3_bucket_policy.artifacts.policy).Statement :
      statement.Effect == "Deny" && statement.Principal == "*" && statement.Action == "s3:*"
      && try(statement.Condition.Bool["aws:SecureTransport"], "") == "false"
      && contains(statement.Resource, "${aws_s3_bucket.artifacts.arn}/*")
    ])
    error_message = "The bucket policy must deny every request made without TLS."
  }

  assert {
    condition     = one(aws_s3_bucket_ownership_controls.artifacts.rule).object_ownership == "BucketOwnerEnforced"
    error_message = "ACLs must be disabled (BucketOwnerEnforced)."
  }

  assert {
    condition     = aws_s3_bucket_versioning.artifacts.versioning_configuration[0].status == "Enabled"
    error_message = "Versioning must be enabled."
  }

  assert {
    condition     = aws_s3_bucket_lifecycle_configuration.artifacts.rule[0].noncurrent_version_expiration[0].noncurrent_days == 90
    error_message = "Noncurrent versions must expire (default 90 days)."
  }

  assert {
    condition     = aws_s3_bucket_logging.artifacts.target_bucket == aws_s3_bucket.access_logs.id
    error_message = "Server access logs must go to the access-log bucket."
  }

  assert {
    condition     = aws_s3_bucket.artifacts.bucket == "hotel-mlops-123456789012-eu-west-1-artifacts"
    error_message = "The bucket name must be derived from the prefix, account and region."
  }

  assert {
    condition     = output.dvc_remote_url == "s3://hotel-mlops-123456789012-eu-west-1-artifacts/dvc"
    error_message = "The DVC remote URL must point into the artifact bucket."
  }
}

run "instance_role_is_limited_to_the_bucket" {
  command = apply

  assert {
    condition = alltrue(flatten([
      for statement in jsondecode(aws_iam_role_policy.artifacts.policy).Statement : [
        for resource in flatten([statement.Resource]) :
        contains([aws_s3_bucket.artifacts.arn, "${aws_s3_bucket.artifacts.arn}/*", aws_kms_key.artifacts.arn], resource)
      ]
    ]))
    error_message = "The instance policy may only name the artifact bucket, its objects and its key."
  }

  assert {
    condition = alltrue(flatten([
      for statement in jsondecode(aws_iam_role_policy.artifacts.policy).Statement :
      [for action in flatten([statement.Action]) : !strcontains(action, "*")]
    ]))
    error_message = "The instance policy must not use wildcard actions."
  }

  assert {
    condition     = endswith(aws_iam_role_policy_attachment.ssm_core.policy_arn, ":iam::aws:policy/AmazonSSMManagedInstanceCore")
    error_message = "Session Manager needs AmazonSSMManagedInstanceCore."
  }
}

run "ingress_only_from_allowed_cidrs" {
  command = apply

  assert {
    condition = alltrue([
      for rule in aws_vpc_security_group_ingress_rule.service :
      rule.cidr_ipv4 != "0.0.0.0/0" && rule.cidr_ipv6 != "::/0" if rule.from_port == 22
    ])
    error_message = "SSH must never be open to 0.0.0.0/0 or ::/0."
  }

  assert {
    condition = length([
      for rule in aws_vpc_security_group_ingress_rule.service : rule if rule.from_port == 22
    ]) == 3
    error_message = "With a key pair, SSH must be open to each allowed CIDR block (3 here) and nothing else."
  }

  assert {
    condition     = toset([for rule in aws_vpc_security_group_ingress_rule.service : rule.from_port]) == toset([22, 443])
    error_message = "Ingress must be HTTPS (the proxy in front of every service) and, with a key pair, SSH: nothing else."
  }

  assert {
    condition = alltrue([
      for rule in aws_vpc_security_group_ingress_rule.service :
      rule.from_port == rule.to_port && rule.ip_protocol == "tcp" && length(rule.description) > 0
      && contains(var.allowed_cidrs, coalesce(rule.cidr_ipv4, rule.cidr_ipv6))
    ])
    error_message = "Each ingress rule must open one TCP port, to one allowed CIDR block, with a description."
  }

  assert {
    condition     = length(aws_vpc_security_group_ingress_rule.service) == 6
    error_message = "2 ports x 3 CIDR blocks = 6 ingress rules."
  }

  assert {
    condition     = startswith(output.api_url, "https://") && !can(regex(":[0-9]+$", output.api_url)) && endswith(output.mlflow_url, "/mlflow") && endswith(output.dashboard_url, "/dashboard/")
    error_message = "The services are reached over HTTPS through the proxy, each under its path."
  }
}

run "user_data_deploys_the_stack_without_secrets" {
  command = apply

  assert {
    condition     = strcontains(aws_instance.app.user_data, "docker compose -f infra/docker-compose.yml")
    error_message = "The user data must start the compose stack."
  }

  assert {
    condition = alltrue([
      strcontains(aws_instance.app.user_data, "REPO_URL='https://github.com/example/hotel-cancellation.git'"),
      strcontains(aws_instance.app.user_data, "REPO_BRANCH='release/1.0'"),
      strcontains(aws_instance.app.user_data, "s3://hotel-mlops-123456789012-eu-west-1-artifacts/mlflow"),
      strcontains(aws_instance.app.user_data, "set_var COMPOSE_PROFILES 'airflow'"),
    ])
    error_message = "The user data must deploy the requested repository and branch, with S3 artifacts and Airflow."
  }

  assert {
    condition     = strcontains(aws_instance.app.user_data, "openssl rand") && !can(regex("(?i)(password|secret|key)=[A-Za-z0-9+/_-]{16,}", aws_instance.app.user_data))
    error_message = "Secrets must be generated on the instance, never written into the user data."
  }

  assert {
    condition     = strcontains(aws_instance.app.user_data, "openssl req -x509") && !strcontains(aws_instance.app.user_data, "BEGIN PRIVATE KEY")
    error_message = "The proxy's key must be made on the instance (or installed there by the operator), never carried in the user data."
  }
}

run "no_ssh_without_key_pair" {
  command = plan

  variables {
    key_name       = null
    enable_airflow = false
  }

  assert {
    condition     = length([for rule in aws_vpc_security_group_ingress_rule.service : rule if rule.from_port == 22]) == 0
    error_message = "Without a key pair, port 22 must stay closed (Session Manager instead)."
  }

  assert {
    condition     = toset([for rule in aws_vpc_security_group_ingress_rule.service : rule.from_port]) == toset([443])
    error_message = "Without a key pair, HTTPS must be the only open port."
  }

  assert {
    condition     = output.airflow_url == null
    error_message = "With enable_airflow = false, airflow_url must be null."
  }

  assert {
    condition     = output.ssh_command == null
    error_message = "Without a key pair there is no SSH command."
  }
}

run "needs_a_subnet_without_default_vpc" {
  command = plan

  override_data {
    target = data.aws_subnets.default
    values = {
      ids = []
    }
  }

  expect_failures = [data.aws_subnet.selected]
}

run "explicit_subnet_skips_the_default_vpc_lookup" {
  command = plan

  variables {
    subnet_id = "subnet-0123456789abcdef0"
  }

  assert {
    condition     = length(data.aws_vpc.default) == 0 && length(data.aws_subnets.default) == 0
    error_message = "With subnet_id set, the default VPC must not be looked up."
  }

  assert {
    condition     = aws_instance.app.subnet_id == "subnet-0123456789abcdef0"
    error_message = "The instance must use the given subnet."
  }
}

run "rejects_ssh_from_anywhere" {
  command = plan

  variables {
    allowed_cidrs = ["203.0.113.0/24", "0.0.0.0/0"]
  }

  expect_failures = [var.allowed_cidrs]
}

run "rejects_ipv6_anywhere" {
  command = plan

  variables {
    allowed_cidrs = ["::/0"]
  }

  expect_failures = [var.allowed_cidrs]
}

run "rejects_empty_allow_list" {
  command = plan

  variables {
    allowed_cidrs = []
  }

  expect_failures = [var.allowed_cidrs]
}

run "rejects_host_address_as_network" {
  command = plan

  variables {
    allowed_cidrs = ["203.0.113.7/24"]
  }

  expect_failures = [var.allowed_cidrs]
}

run "rejects_arm_instance_types" {
  command = plan

  variables {
    instance_type = "t4g.large"
  }

  expect_failures = [var.instance_type]
}

run "rejects_non_https_repository" {
  command = plan

  variables {
    repo_url = "git@github.com:example/hotel-cancellation.git"
  }

  expect_failures = [var.repo_url]
}

run "pinned_ami_skips_the_lookup" {
  command = plan
  # A state of its own: in the shared one the instance exists already and ignores AMI changes.
  state_key = "pinned_ami"

  variables {
    ami_id = "ami-0fedcba9876543210"
  }

  assert {
    condition     = length(data.aws_ami.ubuntu) == 0 && aws_instance.app.ami == "ami-0fedcba9876543210"
    error_message = "With ami_id set, the instance must boot that image and the Ubuntu lookup must not run."
  }
}

run "rejects_malformed_ami_id" {
  command = plan

  variables {
    ami_id = "ubuntu-24.04"
  }

  expect_failures = [var.ami_id]
}
