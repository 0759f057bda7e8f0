"""Post-incident reviews and the improvement backlog (action items)."""
