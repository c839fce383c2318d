"""OCPP 1.6J action handlers, one module per action; may import protocol, domain and services."""
