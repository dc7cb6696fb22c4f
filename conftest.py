"""Process-wide test setup: no display, and the model fixtures available to every test folder."""

import os

# Tests run on machines without a display (CI): Qt must render offscreen.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

pytest_plugins = ["tests.support.model_home"]
