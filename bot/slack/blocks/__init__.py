"""All Slack rendering: every message, view and file the app shows, as pure functions of the
triage report, one module per message family. Nothing here does I/O.
"""
