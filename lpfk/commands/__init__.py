"""The ``lpfk`` subcommands, one module each (``lpfk/cli.py`` dispatches): argument parsing,
calling ``lpfk.analysis`` / ``lpfk.evaluation`` and ``lpfk.plots``, writing files through
``_output`` (every command under ``lpfk_out/<command>/``, never replacing what it did not write
without ``--overwrite``).

May import: anything in lpfk. Nothing imports a command module except ``lpfk.cli`` (and the
commands themselves).
"""
