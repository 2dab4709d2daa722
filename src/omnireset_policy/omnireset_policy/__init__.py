"""Deployment-side policy: exported-policy loading, observation pipeline, policy and supervisor nodes."""
