"""What ties Vigil to the machine it runs on: systemd readiness and watchdog, local alarm sound,
the clock's synchronisation, and the USB-serial adapters (stable names through udev).

Standard library only (plus ``service.alarms.model`` for ``Priority``); nothing here is needed to
run Vigil on a laptop, and every module degrades to "not available" with a reason.
"""
