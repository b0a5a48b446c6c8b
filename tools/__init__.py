"""Build tools of the shipped Miyun data (never imported by the service)."""
