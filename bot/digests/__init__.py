"""Daily digests: pure time rules (:mod:`.rules`), building one (:mod:`.build`), the service
that posts them (:mod:`.scheduler`). Importing the package imports none of them."""
