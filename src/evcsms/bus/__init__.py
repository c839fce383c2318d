"""Message bus: publish/subscribe and request/reply, in-process for one node; may import domain only."""
