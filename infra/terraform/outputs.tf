output "instance_id" {
  description = "EC2 instance id (for `aws ssm start-session --target ...`)."
  value       = aws_instance.app.id
}

output "public_ip" {
  description = "Public IPv4 address of the instance (changes when the instance is stopped and started)."
  value       = aws_instance.app.public_ip
}

output "public_dns" {
  description = "Public DNS name of the instance."
  value       = aws_instance.app.public_dns
}

output "api_url" {
  description = "Prediction API through the proxy (POST /predict with header X-API-Key; health at /health)."
  value       = "https://${local.public_host}"
}

output "dashboard_url" {
  description = "Streamlit dashboard (the operators' password: PROXY_USER / PROXY_PASSWORD on the instance)."
  value       = "https://${local.public_host}/dashboard/"
}

output "mlflow_url" {
  description = "MLflow tracking server and model registry (MLFLOW_TRACKING_URI; the operators' password)."
  value       = "https://${local.public_host}/mlflow"
}

output "airflow_url" {
  description = "Airflow 3 UI and API (the operators' password, then Airflow's own login; null when enable_airflow is false)."
  value       = var.enable_airflow ? "https://${local.public_host}/airflow/" : null
}

output "artifact_bucket" {
  description = "S3 bucket of the DVC remote and MLflow's artifacts."
  value       = aws_s3_bucket.artifacts.bucket
}

output "dvc_remote_url" {
  description = "DVC remote: `dvc remote add -d s3 <this>`."
  value       = "s3://${aws_s3_bucket.artifacts.bucket}/dvc"
}

output "mlflow_artifacts_uri" {
  description = "Where the MLflow server on the instance stores artifacts (MLFLOW_ARTIFACTS_DESTINATION)."
  value       = "s3://${aws_s3_bucket.artifacts.bucket}/mlflow"
}

output "access_log_bucket" {
  description = "S3 bucket receiving the artifact bucket's server access logs."
  value       = aws_s3_bucket.access_logs.bucket
}

output "kms_key_arn" {
  description = "KMS key encrypting the artifact bucket."
  value       = aws_kms_key.artifacts.arn
}

output "security_group_id" {
  description = "Security group of the instance."
  value       = aws_security_group.app.id
}

output "session_manager_command" {
  description = "Shell on the instance without SSH (needs the Session Manager plugin of the AWS CLI)."
  value       = "aws ssm start-session --region ${var.region} --target ${aws_instance.app.id}"
}

output "ssh_command" {
  description = "SSH to the instance (null when key_name is null)."
  value       = var.key_name != null ? "ssh ubuntu@${local.public_host}" : null
}
