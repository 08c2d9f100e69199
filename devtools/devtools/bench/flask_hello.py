"""A one-view Flask app: the ceiling of a Flask replica under the shipped launcher.

What /api/whoami is compared with: the same server, settings and Flask, and nothing of ours
(no metrics, access log, hooks, schemas or database).
"""

from flask import Flask, jsonify

app = Flask(__name__)


@app.get("/")
@app.get("/readyz")
@app.get("/healthz")
def hello():
    """The same small JSON body on every route the harness probes."""
    return jsonify(hello="world")
