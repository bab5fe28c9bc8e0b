"""Load tools: measured figures, never assertions about speed.

bench     `chat-toolkit bench`: sync and message throughput against raw PostgREST, with wrk,
          then sync at scale
wrk       the wrk runner: one load case, with the server's CPU and memory around it
scale     delivery by poll and long-poll to many visitors, idle request rates, the stall
figures   the closing table (targets met or missed) and the plot
procstat  a process tree's CPU and memory read from /proc
soak/     `chat-toolkit soak`: simulated visitors and team, then an exact account
"""
