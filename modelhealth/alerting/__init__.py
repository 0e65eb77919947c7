"""Alert delivery: routing, grouping, silences, inhibition, a durable outbox and notifiers.

The rules engine hands every changed or firing :class:`~modelhealth.types.Alert` to a
:class:`~modelhealth.alerting.pipeline.Dispatcher` once per tick; the dispatcher groups them
per route, mutes silenced and inhibited ones, writes each notification to the outbox before
sending it, and retries until delivered or expired.
"""
