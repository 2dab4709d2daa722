"""Procedural MJCF assets written by the project (no meshes, no third-party models)."""
