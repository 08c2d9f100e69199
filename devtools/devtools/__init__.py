"""The harness around the product: the local stack (`make run`), the benchmark (`make bench`),
the compose driver, the generators of tracked docs, and helpers the tests share.

Nothing here ships: the backend, the webserver and the database images never import it.
"""
