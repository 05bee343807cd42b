"""Alert delivery: rules and planning (pure), payloads and signatures (pure), the outbox
dispatcher, and the webhook and email senders (edges)."""
