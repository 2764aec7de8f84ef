"""Problem synthesis from real code (``fdpo synth``), in the OSS-Instruct / SelfCodeAlign style.

``seeds`` walks source trees and cuts functions out with tree-sitter, ``concepts``
names what each one uses, ``problems`` asks a model for a new task and checks
it, ``dedup`` and ``decontam`` filter the results, ``pipeline`` ties them into
one stream. The command line lives in ``fdpo.commands.synth``.
"""

#: File and folder names (globs) ``fdpo synth`` skips unless ``--exclude`` is given; here so that
#: ``--help`` can show them without importing tree-sitter.
DEFAULT_EXCLUDE = ("test", "tests", "idle_test", "test_*.py", "*_test.py", "site-packages", "__pycache__", ".*")
