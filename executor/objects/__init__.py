"""The workspaces' object storage (MinIO through S3, one client per workspace, its own access key)."""
