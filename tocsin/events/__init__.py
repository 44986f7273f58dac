"""EventBridge: event buses, rules, targets and event patterns."""
