"""Booking a meeting with a counsellor: slots, holds, bookings, call-backs and reminders (never imports telegram)."""
