"""One inbox: every human reply across mailboxes and campaigns, the thread, answering from the app, outcomes."""
