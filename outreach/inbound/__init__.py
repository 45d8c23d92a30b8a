"""Mail that comes back for what we sent: IMAP sync, ESP webhooks, matching, classifying, recording.

`classify` tells an auto-reply or a bounce from a human reply and strips quoted history; `intent` reads what a human
reply means; `esp` takes the ESPs' inbound and tracking webhooks (django-anymail) with their signatures verified.
"""
