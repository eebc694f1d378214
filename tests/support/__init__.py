"""What many test modules share: the hand-driven bot (bots.py), waiting for a condition with a
deadline (waiting.py), the test catalogue (catalogue.py) and plain SQL under a store (sqldb.py).

The integration harness (a real Synapse, users, bot processes) stays in tests/integration.
"""
