"""Operator tools for the cutover.

verify/   `chat-toolkit verify`: is the project cut over, and does the chat work?
rollout   `chat-toolkit rollout status`: figures and the next step of the seed's rollout
request_report  the functions' answers and error verdict that `rollout status` adds
team      `chat-toolkit team`: act as the support team (reply, type, note, resolve, assign)
tokens    `chat-toolkit tokens revoke`: end conversation tokens for good
erasure   `chat-toolkit visitor forget`: delete one visitor's chat data
"""
