"""Device handlers: the protocol logic of each driver, no I/O (the device link does that).

One module per driver (``masimo_ascii``, ``ge_dri``, ``philips_intellivue``, ``bbraun_bcc``,
``alaris_asena``) on two shared layers: ``base`` (``DeviceHandler`` with its defaults and the
rejection bookkeeping) and ``poller`` (one request at a time, its deadline, retries and NAKs).
"""

from drivers.handlers.base import Codec, DeviceHandler, Handler, HandlerOutput
from drivers.handlers.poller import Poller, Request

__all__ = ["Codec", "DeviceHandler", "Handler", "HandlerOutput", "Poller", "Request"]
