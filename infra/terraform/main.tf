# One EC2 instance running the docker compose stack (infra/docker-compose.yml), reachable only
# from var.allowed_cidrs, plus the S3 bucket of the DVC remote and MLflow's artifacts (s3.tf) and
# the instance's IAM role (iam.tf).

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  tags = merge(
    {
      Project   = var.name_prefix
      ManagedBy = "terraform"
    },
    var.tags,
  )

  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition

  # The stack's one published port: HTTPS to its proxy, which serves the API, the dashboard,
  # MLflow and Airflow (each under its own path, the last three behind the operators' password).
  # SSH only when a key pair is given (Session Manager otherwise).
  service_ports = merge(
    { https = 443 },
    var.key_name != null ? { ssh = 22 } : {},
  )

  # One ingress rule per (service, CIDR) pair.
  ingress_rules = {
    for pair in setproduct(sort(keys(local.service_ports)), var.allowed_cidrs) :
    "${pair[0]}-${pair[1]}" => {
      service = pair[0]
      port    = local.service_ports[pair[0]]
      cidr    = pair[1]
    }
  }

  # Outbound: HTTPS (Docker Hub, PyPI, GitHub, AWS APIs incl. S3 and SSM) and HTTP (Ubuntu's apt
  # mirrors). DNS, NTP and instance metadata use link-local addresses that security groups do not
  # filter.
  egress_rules = {
    for pair in setproduct(["http", "https"], ["0.0.0.0/0", "::/0"]) :
    "${pair[0]}-${pair[1] == "::/0" ? "ipv6" : "ipv4"}" => {
      port = pair[0] == "https" ? 443 : 80
      cidr = pair[1]
    }
  }

  public_host = aws_instance.app.public_dns != "" ? aws_instance.app.public_dns : aws_instance.app.public_ip
}

# ------------------------------------------------------------------------------------- network

data "aws_vpc" "default" {
  count   = var.subnet_id == null ? 1 : 0
  default = true
}

data "aws_subnets" "default" {
  count = var.subnet_id == null ? 1 : 0

  filter {
    name   = "vpc-id"
    values = [data.aws_vpc.default[0].id]
  }

  filter {
    name   = "default-for-az"
    values = ["true"]
  }
}

locals {
  subnet_id = var.subnet_id != null ? var.subnet_id : try(sort(data.aws_subnets.default[0].ids)[0], null)
}

data "aws_subnet" "selected" {
  id = local.subnet_id

  lifecycle {
    precondition {
      condition     = local.subnet_id != null
      error_message = "The region's default VPC has no default subnet (or there is no default VPC): set subnet_id to a public subnet."
    }
  }
}

resource "aws_security_group" "app" {
  name_prefix = "${var.name_prefix}-app-"
  description = "${var.name_prefix}: HTTPS (and SSH with a key pair) from the allowed CIDR blocks only"
  vpc_id      = data.aws_subnet.selected.vpc_id

  tags = {
    Name = "${var.name_prefix}-app"
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "service" {
  for_each = local.ingress_rules

  security_group_id = aws_security_group.app.id
  description       = "${each.value.service} (${each.value.port}/tcp) from ${each.value.cidr}"
  ip_protocol       = "tcp"
  from_port         = each.value.port
  to_port           = each.value.port
  cidr_ipv4         = strcontains(each.value.cidr, ":") ? null : each.value.cidr
  cidr_ipv6         = strcontains(each.value.cidr, ":") ? each.value.cidr : null

  tags = {
    Name = "${var.name_prefix}-${each.value.service}"
  }
}

resource "aws_vpc_security_group_egress_rule" "web" {
  for_each = local.egress_rules

  security_group_id = aws_security_group.app.id
  description       = "Outbound ${each.value.port}/tcp: packages, images, repository, AWS APIs"
  ip_protocol       = "tcp"
  from_port         = each.value.port
  to_port           = each.value.port
  cidr_ipv4         = each.value.cidr == "::/0" ? null : each.value.cidr
  cidr_ipv6         = each.value.cidr == "::/0" ? each.value.cidr : null

  tags = {
    Name = "${var.name_prefix}-egress-${each.key}"
  }
}

# ------------------------------------------------------------------------------------ instance

# Ubuntu 24.04 LTS from Canonical's own account, unless var.ami_id pins an image. Docker publishes
# its Engine and compose plugin for it; Amazon Linux 2023 has no compose plugin package.
data "aws_ami" "ubuntu" {
  count       = var.ami_id == null ? 1 : 0
  most_recent = true
  owners      = ["099720109477"]

  filter {
    name   = "name"
    values = ["ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-*"]
  }

  filter {
    name   = "architecture"
    values = ["x86_64"]
  }

  filter {
    name   = "virtualization-type"
    values = ["hvm"]
  }
}

resource "aws_instance" "app" {
  #checkov:skip=CKV_AWS_88:The single-node stack is reached directly on its public address; the security group admits only var.allowed_cidrs (validated to exclude 0.0.0.0/0).
  ami                         = var.ami_id != null ? var.ami_id : data.aws_ami.ubuntu[0].id
  instance_type               = var.instance_type
  subnet_id                   = local.subnet_id
  vpc_security_group_ids      = [aws_security_group.app.id]
  iam_instance_profile        = aws_iam_instance_profile.app.name
  key_name                    = var.key_name
  associate_public_ip_address = true
  monitoring                  = true
  ebs_optimized               = true

  metadata_options {
    http_endpoint = "enabled"
    # IMDSv2 only (session tokens): blocks SSRF-style credential theft through IMDSv1.
    http_tokens = "required"
    # 2, not 1: the MLflow container reaches the instance role's credentials (S3 artifacts)
    # through Docker's bridge network, which adds one hop.
    http_put_response_hop_limit = 2
    instance_metadata_tags      = "disabled"
  }

  root_block_device {
    volume_type           = "gp3"
    volume_size           = var.root_volume_size_gb
    encrypted             = true
    delete_on_termination = true

    tags = merge(local.tags, { Name = "${var.name_prefix}-app-root" })
  }

  # No secret in here: the instance generates its own (infra/.env, mode 600) on first boot.
  user_data = templatefile("${path.module}/user_data.sh.tftpl", {
    repo_url            = var.repo_url
    repo_branch         = var.repo_branch
    artifact_bucket     = aws_s3_bucket.artifacts.bucket
    region              = var.region
    compose_profiles    = var.enable_airflow ? "airflow" : ""
    train_on_first_boot = var.train_on_first_boot
  })
  user_data_replace_on_change = true

  tags = {
    Name = "${var.name_prefix}-app"
  }

  lifecycle {
    # A newer Ubuntu image must not replace the running instance (and its data) on the next
    # apply; upgrade deliberately with `terraform apply -replace=aws_instance.app`.
    ignore_changes = [ami]
  }
}
