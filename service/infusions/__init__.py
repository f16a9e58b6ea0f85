"""Infusion sessions: from baseline to discharge (docs/infusions.md).

``logic`` is pure (time passed in, no I/O); ``store`` is the only database code; ``manager``
holds the current session and is the only part that talks to the runtime.
"""
