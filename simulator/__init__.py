"""Vigil's device simulator: byte-exact emulators of monitors and pumps on pseudo-terminals.

Emulators are written from the vendors' published documents with their own encoders; they never
call the drivers' codecs (tests compare both against golden byte vectors).
"""
