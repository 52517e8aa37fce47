"""Install ``grading_engine_startup.pth`` beside the packages (setuptools cannot say so in pyproject.toml).

A ``.pth`` file in site-packages runs its ``import`` line when any Python of the environment starts: the engine's
way into otter's own ``run_otter.py`` before otter is imported (see ``grading_engine/startup.py``). pytest-cov
installs its subprocess hook the same way.
"""

import pathlib

from setuptools import setup
from setuptools.command.build_py import build_py

PTH = "grading_engine_startup.pth"


class BuildWithStartupHook(build_py):
    def run(self) -> None:
        super().run()
        self.copy_file(str(pathlib.Path(__file__).parent / PTH), str(pathlib.Path(self.build_lib) / PTH))


setup(cmdclass={"build_py": BuildWithStartupHook})
