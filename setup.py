"""Build hook: the wheel carries the bundled example project and the docs (rules, samples) inside the package.

Everything else is declared in pyproject.toml. An editable install reads them from the checkout instead
(lfgate/bundled.py).
"""

import os
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py

BUNDLED = ("examples", "docs")  # folders of the checkout copied to lfgate/bundled/ in the wheel


class BuildWithBundledFiles(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return
        here = os.path.dirname(os.path.abspath(__file__))
        for name in BUNDLED:
            target = os.path.join(self.build_lib, "lfgate", "bundled", name)
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(os.path.join(here, name), target)


setup(cmdclass={"build_py": BuildWithBundledFiles})
