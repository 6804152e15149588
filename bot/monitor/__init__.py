"""Monitoring: scheduled and on-demand scans of the whole catalog and the connector.

``drift`` (with ``scan`` and ``state``) compares every SKU's storefront and ERP quantity and keeps
each gap's first-seen / last-seen across runs; health, latency, the trigger-chain map and the
schedules that post them live beside it.
"""
