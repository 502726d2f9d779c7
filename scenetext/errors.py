"""The one exception type for user-facing failures."""


class ScenetextError(ValueError):
    """A one-line, user-facing error: names the offending file, field or value and says what is wrong.

    CLI commands catch it and print ``error: <message>`` without a traceback, so the message must stand alone.
    """


class ImageTooLargeError(ScenetextError):
    """An image refused for its pixel count, before decoding: callers (the service) answer it differently."""
