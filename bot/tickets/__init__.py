"""Escalation tickets: routing by owner, the ticket body, dedupe by fingerprint, the outbox.

``service.TicketService`` is the entry point; ``config.TicketsConfig`` is the ``[tickets]``
table of the stack config.
"""
