"""Staff handoff: tickets, the queue, staff on duty, relay bookkeeping, the audit log (no telegram).

A front-end (the staff forum group, the command line) asks this domain what to do and
tells it what it did; every decision that must survive a restart or a race is a row.
"""
