"""Pure domain logic (metering, tokens, money, model types): stdlib only."""
