"""Open and click tracking (issue #11): signed tokens, link rewriting at send time, the pixel and redirect handlers,
the Redis buffer they append to, the batch writer that turns hits into Events, and the bot rules.

The request path validates a token and appends one JSON hit to a Redis list; everything else (the click's
classification, the Event rows, the prospect's engagement) happens in `events_flush`, on the `events` queue.
"""
