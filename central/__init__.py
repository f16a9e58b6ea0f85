"""The clinic central station (``vigil central``): a separate program beside the bedside units.

It hears every bed of one clinic over MQTT (the schema is service/mqtt_schema.py, the one module
both ends share), keeps what they send in its own database (PostgreSQL or SQLite, with its own
migrations: central/migrations), shows every bed on one overview page, relays a nurse's
acknowledgement to the bed and escalates alarms nobody acknowledges (docs/central.md).

It shares code with the bed only through named seams: the sign-in routes and role checks
(service/api/auth.py, security.py, typed against ``service.api.deps.AuthHost``), the live
socket's lifecycle (service/api/live.py), the settings loader (service/settings.py
``from_sources``), the clock (drivers/clock.py), ISO times (service/serialize.py), task
supervision (service/tasks.py) and the migration runner (service/persistence/db.py). It never
imports the bed's runtime, alarm engine or device code (tests/test_import_rules.py).
"""
