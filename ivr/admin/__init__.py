"""The supervisor console: live calls, call detail, transfer rules, dashboard and the missed-utterances loop."""
