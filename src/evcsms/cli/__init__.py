"""The evcsms command line (click): serve, db, stations, tokens, users, simulate, demo."""
