"""The call machinery shared by every stage: one client, timeouts, limits, cost and prices."""
