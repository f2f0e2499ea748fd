"""HTTP routers, one per resource: models, scoring, verdicts, tokens, health, metrics."""
