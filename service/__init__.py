"""The Vigil bedside service: acquisition, alarm engine, records and the live view."""
