"""The operator's side: the `complaintdesk` CLI and its sub-commands, the demo, health,
metrics, and the views and text tables they print. Reads the database; wires a process
(workers.wiring) only for commands that enqueue work.
"""
