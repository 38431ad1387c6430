"""The operator console: a small server-rendered web application over the same services."""
