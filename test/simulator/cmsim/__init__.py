"""A stand-in for the two commands the formula runs on a CipherMail gateway.

``ciphermail-cli`` and ``cm-run-playbook`` (the executables next to this
package) are thin wrappers around :mod:`cmsim.cli` and :mod:`cmsim.playbook`.
The simulator keeps one gateway's state in ``$CIPHERMAIL_SIM_HOME``; see
README.rst beside this package for the grammar, the environment variables
and the state file layout.

Modules, one job each:

- :mod:`cmsim.errors`     exception types and their exit codes
- :mod:`cmsim.settings`   the ``CIPHERMAIL_SIM_*`` environment variables
- :mod:`cmsim.catalog`    the property names the simulated gateway knows
- :mod:`cmsim.validation` domain names and property values, as the server checks them
- :mod:`cmsim.store`      state.json and calls.jsonl, under a lock
- :mod:`cmsim.faults`     injected failures (``CIPHERMAIL_SIM_FAIL``)
- :mod:`cmsim.runner`     what every invocation does: latency, signals, call log
- :mod:`cmsim.grammar`    the ciphermail-cli command grammar
- :mod:`cmsim.gateway`    the server side of each ciphermail-cli command
- :mod:`cmsim.cli`        ciphermail-cli entry point
- :mod:`cmsim.ansible_vars` reading a group_vars directory the way Ansible does
- :mod:`cmsim.playbook`   cm-run-playbook entry point

Importing any of them has no side effects.
"""
