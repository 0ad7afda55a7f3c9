"""The pure domain: corpus, scoring, scheduling and the coach.

No Slack, no SQL, no model loading here: adapters hand those in.
"""
