"""evcsms: an EV charging station management system (OCPP 1.6J and 2.0.1)."""

__version__ = "0.1.0"
