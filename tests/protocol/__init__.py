"""Tests of evcsms.protocol, mirroring its tree."""
