"""AVC analysis: read audit logs, explain each denial, and write a minimal module only for true gaps.

Pipeline: :mod:`.reader` (stream records into denials) -> :mod:`.triage` (classify: mislabel, state,
port, boolean, dontaudit, constraint, role, missing rule, out of scope) -> :mod:`.guard`
(refuse security-sensitive rules) -> :mod:`.render` (validated jinja2 .te/.fc) ->
:mod:`.build` (checkmodule/semodule_package, idempotent versioning, offline install).
"""
