"""Executable proofs: each module builds the adapters whose existence a claim asserts."""
