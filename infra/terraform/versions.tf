terraform {
  # 1.6 for the module itself; `terraform test` with mock providers (tests/) needs 1.7 or later.
  required_version = ">= 1.6"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.0"
    }
  }

  # State is local (terraform.tfstate: never commit it). For a team, add `backend "s3" {}` here
  # and pass bucket, key and region with `terraform init -backend-config=...`.
}

provider "aws" {
  region = var.region

  default_tags {
    tags = local.tags
  }
}
