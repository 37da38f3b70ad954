"""Root conftest: enable the lora-theory pytest plugin (claim markers, profiles, claims table)."""

pytest_plugins = ["lora_theory.pytest_plugin"]
