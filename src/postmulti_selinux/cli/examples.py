"""The ``Examples:`` epilog of each command's ``--help`` (and so of the man pages)."""


def examples(*lines):
    # type: (str) -> str
    """An epilog click prints as given (``\\b`` keeps it from being rewrapped)."""
    return "\b\nExamples:\n" + "\n".join("  " + line for line in lines)


SECURE = (
    "{prog} postfix-sub                    # label, configure, restart, verify",
    "{prog} postfix-out --create --listen 127.0.0.1:2525",
    "{prog} postfix-sub --dry-run --json   # the plan, changing nothing",
    "{prog} postfix-sub --root /mnt/image  # offline: an image's tree; nothing restarted",
    "{prog} --all                          # every child: one transaction, one restart",
    "{prog} -g mta                         # every child of multi_instance_group mta",
)


def secure_examples(prog):
    # type: (str) -> str
    return examples(*(line.format(prog=prog) for line in SECURE))
