pytest_plugins = ["mpy_plugin"]
