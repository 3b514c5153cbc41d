"""How operations reach the world, one module per backend.

``http`` and ``prometheus`` serve every target; ``stack`` drives the local stack through its
state dir (:class:`~sre_cli.stack.control.StackControl`); ``kubernetes`` talks to the API
server with the ``kubernetes`` client, imported only when a run targets a cluster.
"""
