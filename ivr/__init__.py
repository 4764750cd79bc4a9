"""Warmline: an offline voice IVR that understands callers and hands them warmly to a person."""

__version__ = "0.1.0"
