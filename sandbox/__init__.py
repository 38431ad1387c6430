"""A conforming sandbox of the platform (a real HTTP server) and a realistic data generator.

It is what ``make demo``, the tests and the benchmarks run against; it implements
platform-api.md faithfully, quirks included, with switches for faults.
"""
