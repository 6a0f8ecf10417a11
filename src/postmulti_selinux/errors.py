"""The one exception type the CLI turns into a one-line error and a non-zero exit."""


class ToolError(Exception):
    """An expected failure: bad input, a missing tool, a host state we refuse to touch.

    ``hint`` says what the admin can do about it; ``exit_code`` is what the CLI returns.
    """

    def __init__(self, message, hint=None, exit_code=1):
        # type: (str, str, int) -> None
        super(ToolError, self).__init__(message)
        self.hint = hint
        self.exit_code = exit_code

    def __str__(self):
        # type: () -> str
        text = super(ToolError, self).__str__()
        return "{} (hint: {})".format(text, self.hint) if self.hint else text
