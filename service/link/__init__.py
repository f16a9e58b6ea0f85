"""The bed's side of the link to the clinic central station: the MQTT uplink and its on-disk
outbox (docs/mqtt.md). The central station itself is a separate program (central/); the two
share only the schema module service/mqtt_schema.py."""
