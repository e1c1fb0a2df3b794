"""Camera side: capture sources, fabric coordinates, dedup, coverage, alarms, outbox, agent."""
