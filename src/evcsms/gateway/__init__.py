"""The OCPP WebSocket listener: station authentication, subprotocol choice, live-connection registry, command dispatch; may import protocol, services and bus."""
