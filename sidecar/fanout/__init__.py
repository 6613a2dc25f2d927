"""Consent changes fanned out over NATS JetStream: a relay publishes the store's changes,
its snapshots and heartbeats (`relay`); sidecars follow them instead of the store (`reader`).

The names of what lives on NATS and the bytes of each message are in `wire`; `link` runs the
asyncio client on a thread of its own, so that everything else stays synchronous.
"""
