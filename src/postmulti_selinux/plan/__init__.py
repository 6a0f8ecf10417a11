"""The spine of the tool: observe the host, build a plan of actions, apply it, verify.

:mod:`.observe` reads the host (SELinux state, Postfix instances, labels, ports, service manager)
into an :class:`~.observe.Observation`; :mod:`.build` turns it into a :class:`~.action.Plan` of
ordered actions, each knowing why it exists, whether it is already satisfied, how to apply and
how to undo it; :mod:`.execute` applies a plan under a lock with a journal and all policy-store
changes in one transaction, restarts Postfix through the service manager and runs
:mod:`.verify`; :mod:`.undo` reverses a journal.
"""
