"""Errors the CLI prints as a clear message (no traceback): what went wrong, and how to fix it."""


class PlatformError(Exception):
    """A setup or runtime problem a developer can fix; the message says how."""


class PortInUseError(PlatformError):
    pass


class MissingJdkError(PlatformError):
    pass


class InstallError(PlatformError):
    pass


class StartError(PlatformError):
    pass
