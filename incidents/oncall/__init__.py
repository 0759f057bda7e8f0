"""On-call and escalation: schedules and who is on call when, escalation policies, and escalating incidents."""
