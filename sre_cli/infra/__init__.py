"""Real servers as supervised child processes, shared by ``aqua stack`` and the tests.

Each module starts one kind of server on a free 127.0.0.1 port in a directory of its own,
waits until it answers a real request, and stops it without leaving processes behind:

- :mod:`~sre_cli.infra.process`: :class:`ManagedProcess`, the :class:`Server` base, ports
- :mod:`~sre_cli.infra.binaries`: where the server binaries are, and their versions
- :mod:`~sre_cli.infra.versions`: versions pinned in ``scripts/versions.env``
- one module per server: ``postgres``, ``redis``, ``kafka``, ``prometheus``, ``jaeger``,
  ``toxiproxy``, ``alertmanager``, ``nginx``

Server modules are imported on demand; importing this package loads none of them.
"""
