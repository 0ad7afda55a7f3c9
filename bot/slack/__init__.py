"""The Slack adapter: a Bolt app over the coach.

app.py builds the app and wires it; listeners/ holds the listeners grouped by kind; blocks.py
the pure Block Kit builders; text.py the pure parsing of what people type and click; daily.py
the channel question's scheduler and bookkeeping.py its records (which post holds which
question, found by thread); work.py the pool that does everything after the ack.
"""
