"""The clinic central station link: a bedside unit's MQTT publisher (``uplink``) and the central
station (``station``); the topic and payload schema is docs/mqtt.md."""
