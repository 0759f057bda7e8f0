"""REST API of on-call schedules and escalation policies."""
