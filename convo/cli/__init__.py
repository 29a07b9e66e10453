"""The ``convo`` command (click + rich); ``main`` is the entry point.

One module per command group: ``app`` (the group, global options, exit
codes), ``threads`` (threads, show, tree, fork, delete, verify, gc, db),
``io`` (export, import), ``talk`` (chat), ``demo``.  ``formats`` and
``markdown`` hold the pure export/import formats, ``render`` the rich
renderings.
See ``docs/cli.md``.
"""

from convo.cli import demo, io, talk, threads, usage
from convo.cli.app import main

__all__ = ["demo", "io", "main", "talk", "threads", "usage"]
