variable "region" {
  description = "AWS region of every resource (instance, bucket, keys)."
  type        = string
  default     = "eu-west-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must be an AWS region code such as eu-west-1 or us-east-2."
  }
}

variable "name_prefix" {
  description = "Prefix of every resource name (lower case letters, digits and hyphens; part of the S3 bucket names)."
  type        = string
  default     = "hotel-mlops"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,18}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 3-20 characters: lower case letters, digits and hyphens, starting with a letter and not ending with a hyphen."
  }
}

variable "tags" {
  description = "Extra tags for every resource (merged over Project and ManagedBy)."
  type        = map(string)
  default     = {}
}

variable "allowed_cidrs" {
  description = "CIDR blocks allowed to reach HTTPS (443: the API, dashboard, MLflow and Airflow behind the stack's proxy) and SSH (22, if key_name is set), e.g. [\"203.0.113.7/32\"]. No default: the operator states who may connect; the whole internet (a /0 block) is refused."
  type        = list(string)

  validation {
    condition     = length(var.allowed_cidrs) > 0 && alltrue([for cidr in var.allowed_cidrs : can(cidrhost(cidr, 0))])
    error_message = "allowed_cidrs must be a non-empty list of valid CIDR blocks, e.g. [\"203.0.113.7/32\"]."
  }

  validation {
    condition     = alltrue([for cidr in var.allowed_cidrs : try(tonumber(split("/", cidr)[1]) > 0, false)])
    error_message = "allowed_cidrs must not open the instance to the whole internet (0.0.0.0/0, ::/0 or any /0 block): list the addresses that need access."
  }

  validation {
    condition     = alltrue([for cidr in var.allowed_cidrs : try(cidrsubnet(cidr, 0, 0) == cidr, false)])
    error_message = "Each allowed_cidrs entry must be written as its network address (203.0.113.0/24, not 203.0.113.7/24), as AWS stores it."
  }
}

variable "key_name" {
  description = "Name of an existing EC2 key pair for SSH. null (default): no key and no port 22; use AWS Systems Manager Session Manager instead."
  type        = string
  default     = null

  validation {
    condition     = var.key_name == null || try(length(var.key_name) > 0 && length(var.key_name) <= 255, false)
    error_message = "key_name must be null or the name of an EC2 key pair (1-255 characters)."
  }
}

variable "instance_type" {
  description = "EC2 instance type (x86_64). The whole stack (Postgres, MLflow, API, dashboard, Airflow, image builds) needs about 8 GiB of memory: t3.large or larger."
  type        = string
  default     = "t3.large"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*\\.[a-z0-9]+$", var.instance_type))
    error_message = "instance_type must look like FAMILY.SIZE, e.g. t3.large."
  }

  validation {
    condition     = !can(regex("^[a-z]+[0-9]+g[a-z]*\\.", var.instance_type))
    error_message = "Graviton (arm64) instance types are not supported: the AMI and the images are x86_64. Pick e.g. t3.large or m7i.large."
  }
}

variable "root_volume_size_gb" {
  description = "Size of the encrypted gp3 root volume (GiB): OS, Docker images and volumes (Postgres data, MLflow's local cache)."
  type        = number
  default     = 50

  validation {
    condition     = var.root_volume_size_gb >= 30 && var.root_volume_size_gb <= 1000
    error_message = "root_volume_size_gb must be between 30 and 1000."
  }
}

variable "subnet_id" {
  description = "Subnet of the instance; it needs a route to the internet (image builds, apt, git). null (default): a default subnet of the region's default VPC."
  type        = string
  default     = null

  validation {
    condition     = var.subnet_id == null || can(regex("^subnet-[0-9a-f]{8,17}$", var.subnet_id))
    error_message = "subnet_id must be null or a subnet id such as subnet-0123456789abcdef0."
  }
}

variable "repo_url" {
  description = "HTTPS clone URL of this repository, e.g. https://github.com/OWNER/REPO.git (must be readable without credentials)."
  type        = string

  validation {
    condition     = can(regex("^https://[^[:space:]'\"]+$", var.repo_url))
    error_message = "repo_url must be an https:// clone URL without spaces or quotes."
  }
}

variable "repo_branch" {
  description = "Branch (or tag) of the repository that the instance deploys."
  type        = string
  default     = "main"

  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$", var.repo_branch))
    error_message = "repo_branch must be a plain branch or tag name (letters, digits, . _ / -)."
  }
}

variable "enable_airflow" {
  description = "Run the Airflow 3 services (compose profile `airflow`), served by the proxy under /airflow/."
  type        = bool
  default     = true
}

variable "train_on_first_boot" {
  description = "Run the training pipeline once (compose service `pipeline`) after the stack first starts, so that the API has a model to serve."
  type        = bool
  default     = true
}

variable "artifact_noncurrent_version_days" {
  description = "Days after which superseded (noncurrent) object versions in the artifact bucket are deleted."
  type        = number
  default     = 90

  validation {
    condition     = var.artifact_noncurrent_version_days >= 1
    error_message = "artifact_noncurrent_version_days must be at least 1."
  }
}

variable "access_log_retention_days" {
  description = "Days the S3 server access logs of the artifact bucket are kept."
  type        = number
  default     = 365

  validation {
    condition     = var.access_log_retention_days >= 1
    error_message = "access_log_retention_days must be at least 1."
  }
}

variable "bucket_force_destroy" {
  description = "Allow `terraform destroy` to delete the buckets with their objects (DVC data, models, logs). Keep false outside throwaway environments."
  type        = bool
  default     = false
}

variable "ami_id" {
  description = "AMI of the instance (x86_64, with apt and systemd, e.g. Ubuntu). null (default): the newest Ubuntu 24.04 LTS image from Canonical's account, looked up by name."
  type        = string
  default     = null

  validation {
    condition     = var.ami_id == null || can(regex("^ami-[0-9a-f]{8,17}$", var.ami_id))
    error_message = "ami_id must be null or an AMI id such as ami-0123456789abcdef0."
  }
}
