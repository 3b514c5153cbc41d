"""Executable markdown runbooks: checks, diagnostics and confirmed actions, with a transcript.

A runbook is a markdown file with YAML front matter whose ``aqua check|diagnose|action``
fenced blocks are declarative steps (:mod:`.steps`); :func:`load_runbook` parses and validates
it (errors name file and line), :func:`run` executes it against the local stack or a
Kubernetes namespace (:func:`open_context`)::

    from sre_cli.ops.context import TargetOptions, open_context
    from sre_cli.runbook.engine import RunOptions, run
    from sre_cli.runbook.loader import load_runbook

    book = load_runbook(Path("runbooks/api-down.md"))
    report = run(book, RunOptions("stack", yes=True),
                 lambda: open_context(TargetOptions("stack")), reporter, transcript_path)

Modules: ``steps`` and ``spec`` (the format), ``loader``, ``params``, ``engine``, ``render``.
What a run acts on (targets, providers, outcome, transcript) is :mod:`sre_cli.ops`, shared
with chaos. The package exports nothing itself: import from the module that holds a name.
"""
