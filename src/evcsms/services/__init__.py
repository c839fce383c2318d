"""Use cases (stations, sessions, tokens, commands, message log): every state change in one transaction; may import domain, storage and bus."""
