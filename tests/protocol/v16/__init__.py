"""Tests of the OCPP 1.6J handlers and command translation, one file per module."""
