"""Host-side tools (CPython): simulator CLI, flashing, benchmarks, emulators."""
