"""The workspaces' PostgreSQL: credentials from Vault, a pool per workspace, one transaction per request."""
