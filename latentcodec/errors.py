"""The exceptions latentcodec raises for bad input.

Every problem with bytes handed to a decoder (a corrupt, truncated, foreign or
future-version stream, or a file for a model that is not installed) raises
:class:`BitstreamError`, with a message that says what is wrong and where;
media that cannot be read or written raise :class:`MediaError`, and a rate
an encoder cannot keep raises :class:`RateError`.
"""


class BitstreamError(ValueError):
    """The bytes cannot be decoded: corrupt, truncated, foreign or unsupported."""


class IncompleteStreamError(BitstreamError):
    """A streaming decoder needs more input before it can go on.

    Raised only by decoders whose input is still open; nothing was consumed,
    so feed more bytes and call again.
    """


class MediaError(ValueError):
    """A media file cannot be read, or media cannot be written in the asked format."""


class RateError(ValueError):
    """Media cannot be coded at the rate asked (within its tolerance); nothing is written."""
