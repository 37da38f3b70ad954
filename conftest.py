"""Root conftest: enable the lora-theory pytest plugin (claim markers, profiles, claims table), and pytester for
the plugin's own tests."""

pytest_plugins = ["lora_theory.testing.plugin", "pytester"]
