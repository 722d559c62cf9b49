"""Errors that voix reports to the user as one clear message, without a traceback."""


class VoixError(Exception):
    """An error whose message says what is wrong and how to fix it."""


class IngestError(VoixError):
    """A source cannot be read at all (unreadable file, missing mandatory column...)."""
