"""What many test modules share, so that no test module imports from another:

- bots.py: the hand-driven consult service, its people and the `make`/`bot`/`open_db` fixtures
  (registered for every module by tests/conftest.py); conference.py: a world for conferences;
- scripted.py: consults stepped through the state machine into a store; november.py: a scripted
  month whose figures the stats tests work out by hand;
- waiting.py: `eventually`, waiting for a condition with a deadline instead of sleeping;
- catalogue.py: the roster tests' catalogue, hours and time zone; sqldb.py: SQL under a store.

The integration harness (a real Synapse, users, bot processes) stays in tests/integration.
"""
