"""The Slack app: ``/oos SKU`` fills a thread with the walk, the verdict and the evidence.

``settings`` reads the environment, ``app`` builds the Bolt app, ``listeners/`` holds one module
per surface (commands, actions, events, home), ``blocks`` renders every message, ``runner``
runs a triage after the ack (``background`` keeps such tasks), and ``server`` is ``oos serve``.
"""
