"""complaintdesk's workers: the wiring at this level, one package per role below it.

Wiring (the only modules here): `wiring` (a process's App, broker and actors), `worker` (the
`dramatiq` entry point), `app` (settings + policy), `broker` (the broker and every actor's
options), `hops` (which stage's actor gets which ids next), `batches` (the one batch runner) and `item_budget` (its per-item time budget),
`sweeper` (re-enqueues committed work that never finished), `leader_lock` (one poller, one
scheduler).

The roles, in the order a mail meets them: `mail` (pure mail handling) → `intake` (poller,
storing, screening, correlation, filing, acknowledgement) → `triage` (classification, routing,
staff notices) → `casework` (staff commands, complainant replies, the lifecycle) → `clock`
(working days, deadlines, the tick) → `outbound` (rendering, the outbox, sending); `ops` is the
operator's side (CLI, demo, health, metrics, views).
"""
