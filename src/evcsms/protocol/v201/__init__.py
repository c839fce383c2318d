"""OCPP 2.0.1 action handlers, one module per action; may import protocol, domain and services."""
