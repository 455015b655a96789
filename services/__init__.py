"""The service layer: the use cases of the social network, between the edge (HTTP) and the log.

A service takes a command (a frozen dataclass) and the ports it needs, decides, builds the
events, appends them and returns an `Outcome`: projected (here is the read model) or
pending (durable at these positions, not projected within the wait). Reads are services too:
they wait, when asked, for positions a client wrote, then go through the query layer. Nothing
here knows HTTP; `api/` parses requests, calls one service and presents its result.
"""
