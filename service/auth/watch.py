"""Sign-ins kept true while the service runs: users disabled elsewhere lose their sign-ins
within seconds, and bursts of wrong PINs are reported once (docs/security.md)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.exc import SQLAlchemyError

from service.alarms.model import Priority, ServiceFault
from service.auth.signins import SignInStore
from service.auth.throttle import Burst, Throttle
from service.auth.users import UserStore

log = logging.getLogger(__name__)

#: How often sign-ins are checked against the users table (a user disabled elsewhere).
SIGN_IN_CHECK_S = 2.0


class SignInWatch:
    def __init__(
        self,
        users: UserStore,
        sign_ins: SignInStore,
        throttle: Throttle,
        *,
        audit: Callable[[str, str, str], None],
        publish: Callable[[ServiceFault], None],
        now: Callable[[], datetime],
        mono: Callable[[], float],
    ) -> None:
        self.users, self.sign_ins, self.throttle = users, sign_ins, throttle
        self._audit, self._publish, self._now, self._mono = audit, publish, now, mono
        self._alarm = False

    def wrong_pins(self, burst: Burst) -> None:
        """A burst of wrong PINs from one client for one name: audited once, a LOW technical
        alarm (not a message to the tablets per attempt)."""
        detail = f"{burst.failures} wrong PINs for {burst.username!r} from {burst.client}"
        self._audit("wrong_pins", burst.username[:32] or "?", detail)
        self._publish(
            ServiceFault(
                "wrong_pins", True, f"repeated wrong PINs ({detail})", self._now(), Priority.LOW
            )
        )
        self._alarm = True

    async def run(self) -> None:
        """Every 2 s: end the sign-ins of users disabled elsewhere (the command line writes the
        database directly), and end the wrong-PIN alarm once it has been quiet."""
        while True:
            await asyncio.sleep(SIGN_IN_CHECK_S)
            try:
                active = await asyncio.to_thread(self.users.active_names)
            except (SQLAlchemyError, OSError) as exc:
                log.error("could not read the users to check sign-ins: %s", exc)
            else:
                for username in self.sign_ins.keep_only(active):
                    log.warning("%s is disabled: signed out", username)
                    self._audit("signed_out", username, "user disabled")
            if self._alarm and not self.throttle.bursting(self._mono()):
                self._alarm = False
                self._publish(
                    ServiceFault("wrong_pins", False, "no wrong PINs lately", self._now())
                )
