"""Booking a meeting with a counsellor: slots, holds, bookings, call-backs, reminders (no telegram)."""
