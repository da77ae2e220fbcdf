"""Only the optional C part of wirewatch; everything else is in pyproject.toml.

``bot.core._scan`` speeds up the matcher's folding and tokenising (see its source). ``optional=True``:
without a C compiler the install goes on and ``bot.core.textfold`` uses the Python code that does the
same."""

from setuptools import Extension, setup

setup(ext_modules=[Extension("bot.core._scan", ["bot/core/_scan.c"], optional=True)])
