"""Root conftest: pytester for the plugin's own tests (tests/meta/test_plugin.py).

The lora-theory plugin is enabled by ``lora_theory = true`` in pyproject.toml; it is installed as a ``pytest11``
entry point, and listed here too so that it is loaded when PYTEST_DISABLE_PLUGIN_AUTOLOAD is set (the entry point has
the module's name, so it is not registered twice).
"""

pytest_plugins = ["lora_theory.testing.plugin", "pytester"]
