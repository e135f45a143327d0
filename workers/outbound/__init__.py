"""Outbound: every mail the desk sends, from template to SMTP.

`render` (Jinja templates, per language), `letters` (what each kind of mail says, for
complainants and staff), `outbox` (the durable outbox row, keyed so a retry never mails
twice), `sender` (SMTP, retries, the in-flight mark). The last stage. Actors: `stage.py`.
"""
