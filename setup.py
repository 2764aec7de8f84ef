"""Builds the sandbox's compiled calls, ``fdpo/sandbox/_syscalls.c``; everything else is in pyproject.toml.

The extension is optional: without a C compiler fdpo installs all the same, and
the sandbox makes its calls through ctypes, a little slower (docs/execute.md, "Speed").
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("fdpo.sandbox._syscalls", ["fdpo/sandbox/_syscalls.c"], optional=True)])
