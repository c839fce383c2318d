"""OCPP per version: frame parsing, validation, handlers and command translation; may import ocpp, domain and services, never storage."""
