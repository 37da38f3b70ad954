"""Meta-tests: a registry of deliberately broken variants of the library (mutants) and the kill-rate gate."""
