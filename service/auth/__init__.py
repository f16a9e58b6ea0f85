"""Users, roles, PINs and sign-in sessions.

Roles (least to most): ``sitter`` views, pauses audio and adds notes; ``nurse`` also
acknowledges alarms, takes responsibility, changes limits and runs infusion sessions; ``admin``
also manages users, devices and settings.
"""

from service.auth.passwords import hash_secret, verify_secret
from service.auth.users import Role, User

__all__ = ["Role", "User", "hash_secret", "verify_secret"]
