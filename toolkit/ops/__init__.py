"""Operator tools for the cutover.

verify/   `chat-toolkit verify`: is the project cut over, and does the chat work?
rollout   `chat-toolkit rollout status`: figures and the next step of the seed's rollout
team      `chat-toolkit team`: act as the support team (reply, type, note, resolve, assign)
"""
