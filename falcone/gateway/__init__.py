"""The API gateway: Envoy in front of the automation service and the executor, configured from the route
catalogue (config.py renders it, supervisor.py runs Envoy and follows the tenant registry). docs/gateway.md."""
