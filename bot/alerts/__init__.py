"""Keyword alerts: the query language (:mod:`.query`, pure), matching many queries at once
(:mod:`.matching`, pure) and the service that records and delivers hits (:mod:`.service`).
Importing the package imports none of them."""
