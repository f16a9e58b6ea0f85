"""A nurse's confirmation at a tablet signed in as someone else.

A sitter's tablet stays signed in as the sitter; a nurse who walks up confirms an action that
needs a nurse (acknowledging an alarm, starting an infusion, signing a discharge) with their own
user name and PIN sent with the request. The service records the nurse, not the sitter.
"""

from __future__ import annotations

from fastapi import HTTPException
from pydantic import BaseModel, Field

from service.api.auth import verify
from service.auth.users import Role, User
from service.runtime import Runtime


class NurseProof(BaseModel):
    """A nurse's credentials given at a tablet signed in as someone else (optional)."""

    username: str | None = Field(None, max_length=32)
    pin: str | None = Field(None, max_length=128)


async def acting_nurse(user: User, proof: NurseProof | None, runtime: Runtime) -> User:
    """The nurse the proof names (checked, whoever is signed in: a signature); without a proof,
    the signed-in user when they are a nurse."""
    given = proof is not None and bool(proof.username) and bool(proof.pin)
    if not given and user.role.at_least(Role.NURSE):
        return user
    if proof is None or not proof.username or not proof.pin:
        raise HTTPException(403, "a nurse must confirm with user name and PIN")
    # Keyed by the signed-in tablet, not its address: wrong PINs typed by a stranger who is
    # not signed in never slow a nurse confirming here.
    nurse = await verify(runtime, proof.username, proof.pin, f"sign-in of {user.username}")
    if not nurse.role.at_least(Role.NURSE):
        raise HTTPException(403, f"{nurse.username} is not a nurse")
    if nurse.pin_change_required:
        raise HTTPException(403, f"{nurse.username} must change the PIN first (sign in to do so)")
    return nurse
