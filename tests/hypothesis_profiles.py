"""This module registers the Hypothesis profiles of the property tests and loads the one HYPOTHESIS_PROFILE names.

"ci" (the default) keeps the suite quick; "deep" searches much harder, for a run by hand or a nightly job:
``HYPOTHESIS_PROFILE=deep .venv/bin/pytest tests/test_gemini_schema.py``. Neither has a deadline: the time
of one example depends on the machine, and a slow example is not a failure of these properties. "ci"
keeps no example database, so a plain test run writes no .hypothesis/ directory into the working tree;
a failure still prints the falsifying example and how to reproduce it.
"""

import os

from hypothesis import settings

settings.register_profile("ci", max_examples=200, deadline=None, database=None)
settings.register_profile("deep", max_examples=5000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
