"""`make chaos`: a fault-injection run on the real services that a university can repeat.

A simulated term is published while a seeded schedule kills and restarts LEAP's processes and
the services under them; at the end, invariants are checked against `leap replay` of the
same input (docs/reliability.md). ``plan`` and ``invariants`` are pure; ``processes`` and
``chaos`` are the shell.
"""
