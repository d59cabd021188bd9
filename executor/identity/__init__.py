"""Who is calling: API key, then Bearer JWT, then gateway-injected headers (seed 004's order)."""
