"""The notification edge: templates, channels, settings and the outbox dispatcher.

message.py   Notification and Recipient, what the outbox stores
context.py   what templates see, and sample contexts for checking them
render.py    the sandboxed Jinja2 templates (bundled, overridable per workflow)
split.py     cutting long messages under a robot's byte limit
delivery.py  the Channel protocol and the failure kinds
channels.py  the channel types (smtp.py, robots.py, webhook, log, file)
settings.py  the [channels] tables of rectify.toml, and building channels from them
notices.py   who an item event tells, on which channels, with which context (outbox rows)
stored.py    a stored outbox row as the notification it sends (renders item notices)
dispatch.py  the outbox dispatcher; memory.py is its in-memory reference store
"""
