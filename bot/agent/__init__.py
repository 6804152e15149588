"""The LLM agent: explains a triage's verdict and answers follow-up questions in its thread.

It walks the same tools the rules engine uses (read-only), grounds every claim in evidence ids,
stays inside budgets (steps, tool calls, wall time, tokens, cost), and shows — never prefers —
a reading that differs from the rules verdict. Without ``OPENAI_API_KEY`` it is off and the bot
works as before. ``open_agent`` is the one place it is built; see ``bot/agent/agent.py``.
"""
