"""Benchmarks of the assistant: `python -m benchmarks.nlu`, `python -m benchmarks.bot`."""
