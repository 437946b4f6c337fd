"""Tests of the infrastructure component (Docker, compose, Terraform, secret scan)."""
