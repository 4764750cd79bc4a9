"""One error family, so the edges can turn any of them into a status code or a spoken apology."""


class IvrError(Exception):
    """Base of every error Warmline raises on purpose."""


class ConfigError(IvrError):
    """The deployment is misconfigured; the message says what to change."""


class ModelNotFoundError(IvrError):
    """No Vosk model could be found; the message names the command that fixes it."""


class ModelDownloadError(IvrError):
    """A model download failed or did not match its checksum."""


class GrammarError(IvrError):
    """A file under grammars/ is invalid; the message names the file and the reason."""


class AudioFormatError(IvrError):
    """Audio is not in a format we can read."""


class StreamTokenError(IvrError):
    """A media-stream token is missing, forged, expired or bound to another call."""


class SynthesisError(IvrError):
    """Text-to-speech failed or the speech engine stopped answering; the message says which prompt."""
