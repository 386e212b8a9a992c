"""SIP calls without I/O: messages, digest authentication, SDP, RTP and user-agent state machines.

Every module here is sans-I/O: it never opens a socket or reads a clock (times are passed in), so
it is tested by feeding it bytes. The asyncio transport that carries the messages lives above it.
"""
